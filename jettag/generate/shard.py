"""Generate one shard of jets of one process with one seed, written as a JetClass ROOT file."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from jettag import __version__
from jettag.detector import DetectorCounts, load_card, simulate
from jettag.generate.jets import (
    JetSelection,
    boson_decays,
    cluster_jets,
    final_state,
    flatten_events,
    jetclass_columns,
    match_decays,
    particle_level,
    top_decays,
)
from jettag.generate.pythia import ParticleTable, make_pythia
from jettag.jetclass import PROCESS_LABELS
from jettag.particles import Particles
from jettag.progress import Progress
from jettag.rootio import JetClassWriter
from jettag.settings import GenerateSettings
from jettag.shards import write_text_atomically

__all__ = ["generate_shard"]

log = logging.getLogger(__name__)

#: processes whose jets must contain a hadronic decay: how to find the decays in the event record, and
#: which of their partons must all lie within Delta R < R of the jet axis (QCD jets are all kept)
DECAY_MATCHING: dict[str, tuple[Callable[[Particles], dict[str, np.ndarray]], tuple[str, ...]]] = {
    "Tbqq": (top_decays, ("top", "b", "q1", "q2")),
    "Wqq": (partial(boson_decays, pdg=24), ("q1", "q2")),
    "Zqq": (partial(boson_decays, pdg=23), ("q1", "q2")),
}


def generate_shard(
    process: str,
    seed: int,
    settings: GenerateSettings,
    output: str | Path,
    summary: str | Path | None = None,
) -> dict[str, Any]:
    """Generate ``settings.jets_per_shard`` jets of ``process`` with the Pythia seed ``seed`` into
    ``output``; return (and optionally write) the counts. The same process, seed and settings give the
    same jets.

    The visible final state goes through the detector card ``settings.detector`` (none: particle level),
    and jets are clustered from its energy-flow objects. Every jet in the pT/|eta| window is written for
    QCD; for tops only jets that contain a hadronic top and its three decay quarks (Delta R < R) are
    written, for W and Z only jets that contain both quarks of the boson's decay, and the others are
    counted as ``unmatched``.
    """
    if process not in PROCESS_LABELS:
        raise ValueError(f"unknown process '{process}' (known: {', '.join(PROCESS_LABELS)})")
    label = PROCESS_LABELS[process]
    n_jets = settings.jets_per_shard
    selection = JetSelection(settings.jet_r, settings.pt_min, settings.pt_max, settings.eta_max)
    pythia = make_pythia(process, seed, settings.sqrt_s, *settings.pthat_window, settings.pythia)
    table = ParticleTable(pythia.particleData)
    card = None if settings.detector == "none" else load_card(settings.detector)
    # the detector's own random stream, fixed by the shard's seed like Pythia's
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDE7EC7]))
    detector_counts = DetectorCounts()
    detector_seconds = 0.0
    eta_limit = settings.eta_max + 2 * settings.jet_r
    counts = {
        "events": 0,
        "events_failed": 0,
        "jets_in_window": 0,
        "jets_unmatched": 0,
        "jets_not_needed": 0,
        "jets_written": 0,
    }
    progress = Progress(log, f"{process} seed {seed}", n_jets, "jets")
    start = time.perf_counter()

    with JetClassWriter(output) as writer:
        while counts["jets_written"] < n_jets:
            batch = pythia.nextBatch(settings.batch_events)
            counts["events"] += len(batch)
            counts["events_failed"] += settings.batch_events - len(batch)
            if len(batch) == 0:
                raise RuntimeError(f"Pythia produced no event in a batch of {settings.batch_events}")
            events = flatten_events(batch.prt)
            particles = final_state(events, table, eta_limit)
            if card is None:
                particles = particle_level(particles)
            else:
                tick = time.perf_counter()
                particles = simulate(particles, card, rng, detector_counts)
                detector_seconds += time.perf_counter() - tick
            jets = cluster_jets(particles, selection)
            counts["jets_in_window"] += len(jets)
            if process in DECAY_MATCHING:
                find_decays, partons = DECAY_MATCHING[process]
                matched = match_decays(jets, find_decays(events), partons, settings.jet_r)
                counts["jets_unmatched"] += int((~matched).sum())
                jets = jets.subset(matched)
            take = min(len(jets), n_jets - counts["jets_written"])
            counts["jets_not_needed"] += len(jets) - take
            if take:
                writer.write(jetclass_columns(jets.subset(np.arange(take)), settings.jet_r, label))
                counts["jets_written"] += take
            if counts["jets_written"] < n_jets:
                progress.update(counts["jets_written"], f"{counts['events']} events")
    progress.update(counts["jets_written"], f"{counts['events']} events", final=True)

    seconds = time.perf_counter() - start
    result = {
        "jettag_version": __version__,
        "output": str(output),
        "process": process,
        "seed": seed,
        "settings": settings.to_dict(),
        "counts": counts,
        "detector": (
            {**card.provenance(), "counts": detector_counts.as_dict(), "seconds": round(detector_seconds, 3)}
            if card is not None
            else {"name": "none"}
        ),
        "seconds": round(seconds, 3),
        "jets_per_second": round(counts["jets_written"] / seconds, 2),
        "events_per_second": round(counts["events"] / seconds, 2),
    }
    if summary is not None:
        Path(summary).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(summary, json.dumps(result, indent=2) + "\n")
    return result
