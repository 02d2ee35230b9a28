"""Test-split AUC and background rejection of a recurrent tagger with each group of invariant inputs.

On the ingest shards of a finished main job (``results/ingest``): for the standard seven features alone,
each group of ``build.invariants`` alone and all four, the build stage is run into its own directory, the
tagger trained with the given seed (the schema's training settings unless ``--settings`` says otherwise)
and evaluated on the test split. Prints a Markdown table; the runs stay under ``--out``.

    python benchmarks/invariant_ablation.py --results results --model configs/models/gru.yaml --seed 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from jettag.jetclass import INVARIANT_FEATURES, SPLITS

CHOICES = {"standard seven": [], **{f"+ {group}": [group] for group in INVARIANT_FEATURES},
           "+ all four": list(INVARIANT_FEATURES)}  # fmt: skip


def jettag(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "jettag", "-q", *args], check=True)


def run(results: Path, out: Path, model: Path, seed: int, groups: list[str], train: dict) -> dict:
    build = out / "build"
    settings = json.dumps({"build": {"invariants": groups}, "train": train})
    ingested = results / "ingest"
    shards = {split: sorted(str(p) for p in ingested.glob(f"*/{split}.arrow")) for split in SPLITS}
    if not (build / "test" / "summary.json").exists():
        jettag("fit-standardisation", *shards["train"], "--output", str(build / "standardisation.json"),
               "--settings", settings)  # fmt: skip
        for split in SPLITS:
            jettag("build", *shards[split], "--split", split, "--standardisation",
                   str(build / "standardisation.json"), "--ingest-summary", str(ingested / "summary.json"),
                   "--output-dir", str(build / split), "--settings", settings)  # fmt: skip
    jettag("train", "--model", str(model), "--build-dir", str(build), "--output-dir", str(out / "train"),
           "--seed", str(seed), "--settings", settings)  # fmt: skip
    jettag("evaluate", "--run-dir", str(out / "train"), "--build-dir", str(build), "--output-dir",
           str(out / "evaluate"), "--settings", settings)  # fmt: skip
    return json.loads((out / "evaluate" / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished main job's results")
    parser.add_argument("--model", type=Path, default=Path("configs/models/gru.yaml"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settings", default="{}", help='train settings as JSON, e.g. {"max_epochs": 10}')
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/invariants"))
    args = parser.parse_args()
    train = json.loads(args.settings)
    print("| inputs | test AUC (bootstrap) | 1/eps_B at eps_S = 0.5 | epochs |")
    print("|---|---|---|---|")
    for name, groups in CHOICES.items():
        label = "-".join(groups) or "standard"
        m = run(args.results, args.out / args.model.stem / f"seed{args.seed}" / label, args.model, args.seed,
                groups, train)  # fmt: skip
        test = m["test"]
        print(f"| {name} | {test['auc']:.4f} ± {test['errors']['auc']:.4f} | "
              f"{test['rejection']['0.5']:.0f} ± {test['errors']['rejection']['0.5']:.0f} | "
              f"{m['epochs_trained']} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
