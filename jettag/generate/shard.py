"""Generate one shard of jets of one process with one seed, written as a JetClass ROOT file."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

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
from jettag.shards import write_text_atomically

__all__ = ["GenerationSettings", "generate_shard"]

log = logging.getLogger(__name__)

#: processes whose jets must contain a hadronic decay: how to find the decays in the event record, and
#: which of their partons must all lie within Delta R < R of the jet axis (QCD jets are all kept)
DECAY_MATCHING: dict[str, tuple[Callable[[Particles], dict[str, np.ndarray]], tuple[str, ...]]] = {
    "Tbqq": (top_decays, ("top", "b", "q1", "q2")),
    "Wqq": (partial(boson_decays, pdg=24), ("q1", "q2")),
    "Zqq": (partial(boson_decays, pdg=23), ("q1", "q2")),
}


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that fixes a shard's content: same settings, same jets."""

    process: str
    seed: int
    n_jets: int
    sqrt_s: float = 14000.0
    jet_r: float = 0.8
    pt_min: float = 550.0
    pt_max: float = 650.0
    eta_max: float = 2.0
    pthat_min: float | None = None
    pthat_max: float | None = None
    batch_events: int = 100
    pythia: tuple[str, ...] = field(default_factory=tuple)
    #: a detector card (built-in name ``atlas`` or ``cms``, or a YAML file), or ``none`` for particle level
    detector: str = "atlas"

    def __post_init__(self) -> None:
        if self.process not in PROCESS_LABELS:
            raise ValueError(f"unknown process '{self.process}' (known: {', '.join(PROCESS_LABELS)})")
        if self.n_jets < 1:
            raise ValueError(f"n_jets must be at least 1, got {self.n_jets}")
        if not self.pt_min < self.pt_max:
            raise ValueError(f"pt_min ({self.pt_min}) must be below pt_max ({self.pt_max})")

    @property
    def pthat_window(self) -> tuple[float, float]:
        """Pythia's pTHat window; by default 10% wider than the jet pT window on each side."""
        lo = self.pthat_min if self.pthat_min is not None else 0.9 * self.pt_min
        hi = self.pthat_max if self.pthat_max is not None else 1.1 * self.pt_max
        return lo, hi


def generate_shard(
    settings: GenerationSettings, output: str | Path, summary: str | Path | None = None
) -> dict:
    """Generate ``settings.n_jets`` jets into ``output``; return (and optionally write) the counts.

    The visible final state goes through the detector card ``settings.detector`` (none: particle level),
    and jets are clustered from its energy-flow objects. Every jet in the pT/|eta| window is written for
    QCD; for tops only jets that contain a hadronic top and its three decay quarks (Delta R < R) are
    written, for W and Z only jets that contain both quarks of the boson's decay, and the others are
    counted as ``unmatched``.
    """
    label = PROCESS_LABELS[settings.process]
    selection = JetSelection(settings.jet_r, settings.pt_min, settings.pt_max, settings.eta_max)
    pythia = make_pythia(
        settings.process, settings.seed, settings.sqrt_s, *settings.pthat_window, settings.pythia
    )
    table = ParticleTable(pythia.particleData)
    card = None if settings.detector == "none" else load_card(settings.detector)
    # the detector's own random stream, fixed by the shard's seed like Pythia's
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, 0xDE7EC7]))
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
    progress = Progress(log, f"{settings.process} seed {settings.seed}", settings.n_jets, "jets")
    start = time.perf_counter()

    with JetClassWriter(output) as writer:
        while counts["jets_written"] < settings.n_jets:
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
            if settings.process in DECAY_MATCHING:
                find_decays, partons = DECAY_MATCHING[settings.process]
                matched = match_decays(jets, find_decays(events), partons, settings.jet_r)
                counts["jets_unmatched"] += int((~matched).sum())
                jets = jets.subset(matched)
            take = min(len(jets), settings.n_jets - counts["jets_written"])
            counts["jets_not_needed"] += len(jets) - take
            if take:
                writer.write(jetclass_columns(jets.subset(np.arange(take)), settings.jet_r, label))
                counts["jets_written"] += take
            if counts["jets_written"] < settings.n_jets:
                progress.update(counts["jets_written"], f"{counts['events']} events")
    progress.update(counts["jets_written"], f"{counts['events']} events", final=True)

    seconds = time.perf_counter() - start
    result = {
        "jettag_version": __version__,
        "output": str(output),
        "settings": {**asdict(settings), "pythia": list(settings.pythia)},
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
