"""Ingest speed against uproot's bare read of the same branches, and peak memory for 1x and 10x input.

Builds its own input: `--jets` generated QCD jets in a JetClass ROOT file, and a file holding the same
jets ten times. Throughput: `jettag ingest` of the 10x file against `uproot.iterate` over the branches
ingest reads, with the same step size (`--chunk-size`, ingest's default), in the same run, fastest of
`--repeat`. Memory: each ingest runs in a fresh process, with `--memory-chunk-size` jets a chunk (below
the 1x file's size, so both files are read in several chunks), and reports its own peak resident set size.

    python benchmarks/ingest_throughput.py --jets 2000 --chunk-size 20000 --memory-chunk-size 500
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import uproot

from jettag.generate import generate_shard
from jettag.ingest import ingest_file
from jettag.settings import GenerateSettings, IngestSettings

SETTINGS = {"signal": ["label_Tbqq"], "background": ["label_QCD"]}


def make_inputs(directory: Path, n_jets: int) -> tuple[Path, Path]:
    one = directory / "jets_1x.root"
    generate_shard("QCD", 11, GenerateSettings.create(jets_per_shard=n_jets), one)
    arrays = uproot.open(one)["tree"].arrays()
    ten = directory / "jets_10x.root"
    with uproot.recreate(ten) as f:
        part = ak.zip({name[5:]: arrays[name] for name in arrays.fields if name.startswith("part_")})
        flat = {
            name: arrays[name].to_numpy() for name in arrays.fields if not name.startswith(("part_", "npart"))
        }
        tree = f.mktree("tree", {"part": part.type.content, **{k: v.dtype for k, v in flat.items()}})
        for _ in range(10):
            tree.extend({"part": part, **flat})
    return one, ten


def bare_read(path: Path, chunk_size: int) -> float:
    tree = uproot.open(path)["tree"]
    branches = [branch.name for branch in tree.branches if branch.name != "npart"]
    start = time.perf_counter()
    for _ in tree.iterate(branches, step_size=chunk_size):
        pass
    return time.perf_counter() - start


def ingest_seconds(path: Path, out: Path, chunk_size: int) -> float:
    outputs = {s: out / f"{s}.parquet" for s in ("train", "val", "test")}
    start = time.perf_counter()
    ingest_file(path, outputs, IngestSettings.create(**SETTINGS, chunk_size=chunk_size))
    return time.perf_counter() - start


def peak_memory_mb(path: Path, out: Path, chunk_size: int) -> float:
    """Peak resident set size (MB) of a fresh process that ingests ``path``."""
    code = "\n".join(
        [
            "import json",
            "from pathlib import Path",
            "from jettag.ingest import ingest_file; from jettag.settings import IngestSettings",
            f"out = Path({str(out)!r})",
            "outputs = {s: out / f'{s}.parquet' for s in ('train', 'val', 'test')}",
            f"settings = IngestSettings.create(**{SETTINGS!r}, chunk_size={chunk_size})",
            f"ingest_file({str(path)!r}, outputs, settings)",
            # VmHWM, not ru_maxrss: the latter survives exec and would report the parent's peak
            "hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))",
            "print(json.dumps(int(hwm.split()[1])))",
        ]
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jets", type=int, default=2000)
    parser.add_argument("--chunk-size", type=int, default=20000)
    parser.add_argument("--memory-chunk-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/out/ingest_throughput.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one, ten = make_inputs(tmp, args.jets)
        n_ten = 10 * args.jets
        bare = min(bare_read(ten, args.chunk_size) for _ in range(args.repeat))
        ingest = min(ingest_seconds(ten, tmp / "out", args.chunk_size) for _ in range(args.repeat))
        memory_1x = peak_memory_mb(one, tmp / "m1", args.memory_chunk_size)
        memory_10x = peak_memory_mb(ten, tmp / "m10", args.memory_chunk_size)
    result = {
        "jets": n_ten,
        "chunk_size": args.chunk_size,
        "memory_chunk_size": args.memory_chunk_size,
        "bare_read_jets_per_s": round(n_ten / bare),
        "ingest_jets_per_s": round(n_ten / ingest),
        "ingest_over_bare": round(bare / ingest, 3),
        "peak_rss_mb_1x": round(memory_1x, 1),
        "peak_rss_mb_10x": round(memory_10x, 1),
        "memory_10x_over_1x": round(memory_10x / memory_1x, 3),
    }
    for key, value in result.items():
        print(f"{key:22} {value}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
