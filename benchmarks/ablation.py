"""What each input set, batching and read-out does to a recurrent tagger, median over seeds.

On the ingest shards of a finished main job (``results/ingest``): every variant is built (once per set of
``build.invariants``, into its own directory), trained with each seed on the main job's training settings
(``train`` of ``--configfile``, with the variant's changes) and evaluated on the test split. Prints a
Markdown table of the validation AUC (the best epoch's, as early stopping keeps it), the test AUC and
1/eps_B at eps_S = 0.5, each the median over the seeds ± half their range; the runs stay under ``--out``.

    python benchmarks/ablation.py --results results --model configs/models/gru.yaml --seeds 1 2 3 --jobs 2

``--only inputs`` (or ``batching``, ``readout``, ``augmentation``) runs those blocks of variants.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from jettag.jetclass import INVARIANT_FEATURES, SPLITS
from jettag.schema import read_yaml

ALL = {"invariants": list(INVARIANT_FEATURES)}
#: block -> variant -> (build settings, model changes, train changes); the base is the main job's: all four
#: groups, random batches, no augmentation and the model file's read-out
VARIANTS: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]] = {
    "inputs": {
        "standard seven": ({"invariants": []}, {}, {}),
        **{f"+ {group}": ({"invariants": [group]}, {}, {}) for group in INVARIANT_FEATURES},
        "+ all four": (ALL, {}, {}),
    },
    "batching": {
        "length buckets, each class sorted apart (class-mixed batches)": (ALL, {}, {"bucket": True}),
        "random batches": (ALL, {}, {}),
    },
    "readout": {
        "mean": (ALL, {"readout": "mean"}, {}),
        "attention": (ALL, {"readout": "attention"}, {}),
        "last state, hardest first": (ALL, {"readout": "last", "reverse": False}, {}),
        "last state, softest first (reverse)": (ALL, {"readout": "last", "reverse": True}, {}),
    },
    "augmentation": {
        "none": (ALL, {}, {}),
        "one copy: rotation, reflection": (ALL | {"augment": {"copies": 1}}, {}, {}),
        "one copy: rotation, reflection, 2% energy smear": (
            ALL | {"augment": {"copies": 1, "energy_smear": 0.02}},
            {},
            {},
        ),
    },
}


def jettag(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "jettag", "-q", *args], check=True, stdout=subprocess.DEVNULL)


def build(results: Path, out: Path, changes: dict[str, Any]) -> Path:
    settings = json.dumps({"build": changes}, sort_keys=True)
    directory = out / "builds" / hashlib.sha256(settings.encode()).hexdigest()[:12]
    ingested = results / "ingest"
    shards = {split: sorted(str(p) for p in ingested.glob(f"*/{split}.arrow")) for split in SPLITS}
    if not (directory / "test" / "summary.json").exists():
        jettag("fit-standardisation", *shards["train"], "--output", str(directory / "standardisation.json"),
               "--settings", settings)  # fmt: skip
        for split in SPLITS:
            jettag("build", *shards[split], "--split", split,
                   "--standardisation", str(directory / "standardisation.json"),
                   "--ingest-summary", str(ingested / "summary.json"),
                   "--output-dir", str(directory / split), "--settings", settings)  # fmt: skip
    return directory


def train(built: Path, run: Path, model: dict[str, Any], seed: int, settings: dict[str, Any]) -> dict:
    if not (run / "evaluate" / "metrics.json").exists():
        run.mkdir(parents=True, exist_ok=True)
        (run / "model.yaml").write_text(yaml.safe_dump(model))
        text = json.dumps(settings)
        jettag("train", "--model", str(run / "model.yaml"), "--build-dir", str(built), "--output-dir",
               str(run / "train"), "--seed", str(seed), "--settings", text)  # fmt: skip
        jettag("evaluate", "--run-dir", str(run / "train"), "--build-dir", str(built), "--output-dir",
               str(run / "evaluate"), "--settings", text)  # fmt: skip
    return json.loads((run / "evaluate" / "metrics.json").read_text())


def spread(values: list[float], digits: int) -> str:
    half = (max(values) - min(values)) / 2
    return f"{statistics.median(values):.{digits}f} ± {half:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished main job's results")
    parser.add_argument("--configfile", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument("--model", type=Path, default=Path("configs/models/gru.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only", choices=list(VARIANTS), nargs="+", default=list(VARIANTS))
    parser.add_argument("--jobs", type=int, default=1, help="trainings side by side (one thread each)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/ablation"))
    args = parser.parse_args()
    base_train = read_yaml(args.configfile)["train"]
    base_train = {k: v for k, v in base_train.items() if k not in ("models", "model_dir", "seeds")}
    base_model = read_yaml(args.model)
    for block in args.only:
        variants = VARIANTS[block]
        builds = {name: build(args.results, args.out, changes) for name, (changes, _, _) in variants.items()}
        tasks = {}
        for name, (_, model, changes) in variants.items():
            for seed in args.seeds:
                settings = {"train": base_train | changes}
                # a variant that repeats another (the base recurs in every block) reuses its trainings
                key = json.dumps([str(builds[name]), base_model | model, settings], sort_keys=True)
                run = (
                    args.out / args.model.stem / hashlib.sha256(key.encode()).hexdigest()[:12] / f"seed{seed}"
                )
                tasks[name, seed] = (builds[name], run, base_model | model, seed, settings)
        with ThreadPoolExecutor(args.jobs) as pool:
            done = dict(zip(tasks, pool.map(lambda task: train(*task), tasks.values()), strict=True))
        print(f"\n{block} ({args.model.stem}, seeds {' '.join(map(str, args.seeds))})\n")
        print("| variant | val AUC | test AUC | 1/eps_B at eps_S = 0.5 |")
        print("|---|---|---|---|")
        for name in variants:
            runs = [done[name, seed] for seed in args.seeds]
            print(f"| {name} | {spread([m['val_auc'] for m in runs], 4)} | "
                  f"{spread([m['test']['auc'] for m in runs], 4)} | "
                  f"{spread([m['test']['rejection']['0.5'] for m in runs], 0)} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
