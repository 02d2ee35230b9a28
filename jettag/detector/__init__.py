"""A fast parametric detector between Pythia's final state and the jet clustering, modelled on Delphes.

Cards (``configs/detectors/*.yaml``, shipped as ``jettag/detector/cards``) hold the parametrisation as data;
:func:`load_card` reads and checks one, :func:`simulate` turns a batch of events into energy-flow objects.
"""

from jettag.detector.card import BUILTIN_CARDS, CardError, DetectorCard, card_path, load_card
from jettag.detector.propagation import CalorimeterHits, propagate
from jettag.detector.simulate import (
    DetectorCounts,
    Tracks,
    impact_parameters,
    log_normal,
    reconstruct_tracks,
    simulate,
)

__all__ = [
    "BUILTIN_CARDS",
    "CalorimeterHits",
    "CardError",
    "DetectorCard",
    "DetectorCounts",
    "Tracks",
    "card_path",
    "impact_parameters",
    "load_card",
    "log_normal",
    "propagate",
    "reconstruct_tracks",
    "simulate",
]
