"""Python overhead of `jettag generate` above Pythia's own event loop, measured side by side.

For each process, the same seed gives the same events, so jettag's generator and a bare `pythia.next()`
loop do the same Pythia work; the difference is jettag's: batching, clustering, matching, substructure
and ROOT writing. Both run on one core, one after the other, `--repeat` times; the fastest of each counts.

    python benchmarks/generation_overhead.py --jets 1000 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from jettag.generate import generate_shard
from jettag.generate.pythia import make_pythia
from jettag.settings import GenerateSettings


def bare_loop(process: str, settings: GenerateSettings, n_events: int) -> float:
    """Seconds for `n_events` calls of `pythia.next()` with jettag's Pythia settings."""
    pythia = make_pythia(process, 1, settings.sqrt_s, *settings.pthat_window, settings.pythia)
    start = time.perf_counter()
    for _ in range(n_events):
        pythia.next()
    return time.perf_counter() - start


def measure(process: str, n_jets: int, repeat: int) -> dict:
    settings = GenerateSettings.create(jets_per_shard=n_jets)
    jettag_seconds, bare_seconds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeat):
            result = generate_shard(process, 1, settings, Path(tmp) / "shard.root")
            events = result["counts"]["events"]
            jettag_seconds.append(result["seconds"])
            bare_seconds.append(bare_loop(process, settings, events))
    jettag_s, bare_s = min(jettag_seconds), min(bare_seconds)
    return {
        "process": process,
        "events": events,
        "jets": n_jets,
        "bare_events_per_s": round(events / bare_s, 1),
        "jettag_events_per_s": round(events / jettag_s, 1),
        "jettag_jets_per_s": round(n_jets / jettag_s, 1),
        "overhead": round(jettag_s / bare_s - 1, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jets", type=int, default=1000, help="jets per process")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/out/generation_overhead.json"))
    args = parser.parse_args()
    rows = [measure(process, args.jets, args.repeat) for process in ("Tbqq", "QCD")]
    print(f"{'process':8} {'events':>7} {'bare ev/s':>10} {'jettag ev/s':>12} {'jets/s':>8} {'overhead':>9}")
    for r in rows:
        print(
            f"{r['process']:8} {r['events']:7d} {r['bare_events_per_s']:10.1f}"
            f" {r['jettag_events_per_s']:12.1f}"
            f" {r['jettag_jets_per_s']:8.1f} {100 * r['overhead']:8.1f}%"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
