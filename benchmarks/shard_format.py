"""Shard formats side by side: write and read time per jet and size per jet, Arrow IPC against parquet.

Ingests `--jets` generated top jets once, then writes and reads the same table in each format, in the same
run, fastest of `--repeat`.

    python benchmarks/shard_format.py --jets 3000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow.feather as feather
import pyarrow.parquet as pq

from jettag.generate import generate_shard
from jettag.ingest import ingest_file
from jettag.settings import GenerateSettings, IngestSettings

FORMATS = {
    "arrow-ipc-zstd (jettag)": (
        lambda t, p: feather.write_feather(t, p, compression="zstd"),
        feather.read_table,
    ),
    "arrow-ipc-lz4": (lambda t, p: feather.write_feather(t, p, compression="lz4"), feather.read_table),
    "parquet-zstd (pyarrow defaults)": (lambda t, p: pq.write_table(t, p, compression="zstd"), pq.read_table),
    "parquet-zstd no dictionary": (
        lambda t, p: pq.write_table(t, p, compression="zstd", use_dictionary=False, write_statistics=False),
        pq.read_table,
    ),
}


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jets", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/out/shard_format.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_shard("Tbqq", 5, GenerateSettings.create(jets_per_shard=args.jets), tmp / "jets.root")
        outputs = {s: tmp / f"{s}.arrow" for s in ("train", "val", "test")}
        settings = IngestSettings.create(
            signal=["label_Tbqq"], background=["label_QCD"], splits={"train": 1.0, "val": 0.0, "test": 0.0}
        )
        ingest_file(tmp / "jets.root", outputs, settings)
        table = feather.read_table(outputs["train"])
        n = table.num_rows
        for name, (write, read) in FORMATS.items():
            path = tmp / "shard"
            write_s = best(lambda write=write, path=path: write(table, path), args.repeat)
            read_s = best(lambda read=read, path=path: read(path), args.repeat)
            rows.append(
                {
                    "format": name,
                    "write_us_per_jet": round(1e6 * write_s / n, 2),
                    "read_us_per_jet": round(1e6 * read_s / n, 2),
                    "bytes_per_jet": round(path.stat().st_size / n),
                }
            )
    print(f"{'format':34} {'write us/jet':>12} {'read us/jet':>12} {'bytes/jet':>10}")
    for r in rows:
        print(
            f"{r['format']:34} {r['write_us_per_jet']:12.2f} {r['read_us_per_jet']:12.2f}"
            f" {r['bytes_per_jet']:10d}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"jets": n, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
