"""What the parametric detector adds to generation, measured side by side with ``detector: none``.

For each process the same seed gives the same Pythia events with and without the detector (it draws from
its own random stream), so the two runs differ by the detector's work and by the jets it selects: at
detector level fewer jets fall in the pT window, so the same number of jets needs more events. Reported per
process, fastest of ``--repeat`` runs each, all in one process one after the other on one core:

- wall time per written jet, detector over none (what a user waits for);
- wall time per generated event, detector over none (the code's cost on the same events);
- the detector's own share of the detector run (time inside ``jettag.detector.simulate``).

    python benchmarks/detector_overhead.py --jets 1000 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from jettag.generate import generate_shard
from jettag.settings import GenerateSettings


def run(process: str, detector: str, n_jets: int, seed: int, directory: Path) -> dict:
    settings = GenerateSettings.create(jets_per_shard=n_jets, detector=detector)
    return generate_shard(process, seed, settings, directory / f"{process}_{detector}.root")


def measure(process: str, n_jets: int, repeat: int, card: str) -> dict:
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            for detector in ("none", card):  # interleaved, so drifts of the machine hit both
                result = run(process, detector, n_jets, 1, Path(tmp))
                if detector not in best or result["seconds"] < best[detector]["seconds"]:
                    best[detector] = result
    none, det = best["none"], best[card]
    per_jet = det["seconds"] / none["seconds"]
    per_event = (det["seconds"] / det["counts"]["events"]) / (none["seconds"] / none["counts"]["events"])
    return {
        "process": process,
        "jets": n_jets,
        "seconds_none": none["seconds"],
        "seconds_detector": det["seconds"],
        "events_none": none["counts"]["events"],
        "events_detector": det["counts"]["events"],
        "wall_per_jet_ratio": round(per_jet, 3),
        "wall_per_event_ratio": round(per_event, 3),
        "detector_share": round(det["detector"]["seconds"] / det["seconds"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--card", default="atlas")
    parser.add_argument("--processes", nargs="+", default=["Tbqq", "QCD"])
    args = parser.parse_args()
    rows = [measure(p, args.jets, args.repeat, args.card) for p in args.processes]
    print(json.dumps(rows, indent=2))
    print(
        "| process | jets | s (none) | s (detector) | events (none / detector) | wall/jet | wall/event "
        "| in detector |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['process']} | {r['jets']} | {r['seconds_none']:.1f} | {r['seconds_detector']:.1f} | "
            f"{r['events_none']} / {r['events_detector']} | {r['wall_per_jet_ratio']:.3f} | "
            f"{r['wall_per_event_ratio']:.3f} | {100 * r['detector_share']:.1f}% |"
        )


if __name__ == "__main__":
    main()
