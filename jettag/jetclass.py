"""Every name jettag shares between stages: the JetClass ROOT schema (tree, branches and their dtypes), the
stages in their order, splits, constituent orderings and features, observers, high-level features, learning-
rate schedules and class names.

jettag writes generated jets with exactly these names and dtypes, so real JetClass files can replace
them without any change. uproot writes jagged branches as ``float[]`` with one shared counter branch
``npart``; JetClass files hold ``vector<float>`` and no counter. Readers accept both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "BINARY_LABEL_NAMES",
    "BUILD_OBSERVERS",
    "COUNTER_BRANCH",
    "HIGH_LEVEL_FEATURES",
    "INVARIANT_FEATURES",
    "JET_BRANCHES",
    "LABEL_BRANCHES",
    "OBSERVERS",
    "ORDERINGS",
    "PARTICLE_BRANCHES",
    "PID_BRANCHES",
    "PID_FEATURES",
    "PROCESS_LABELS",
    "SCHEDULES",
    "SPLITS",
    "STAGES",
    "STANDARD_FEATURES",
    "TREE_NAME",
    "all_branches",
    "check_classes",
    "class_name",
    "class_names",
]

#: the workflow's stages in their order; a stage's package imports no later stage's (tests/test_layers.py)
STAGES = ("generate", "ingest", "build", "train", "evaluate", "report", "predict", "tune")

#: the splits of every sample, in this order
SPLITS = ("train", "val", "test")

#: constituent orderings: pt (decreasing), delta_r (increasing, to the jet axis), kt (clustering history)
ORDERINGS = ("pt", "delta_r", "kt")

#: the seven kinematic features of the strongest public constituent taggers, in this order
STANDARD_FEATURES = ("log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r", "deta", "dphi")

#: particle-identification features and the JetClass branch each one is read from
PID_BRANCHES: dict[str, str] = {
    "charge": "part_charge",
    "is_charged_hadron": "part_isChargedHadron",
    "is_neutral_hadron": "part_isNeutralHadron",
    "is_photon": "part_isPhoton",
    "is_electron": "part_isElectron",
    "is_muon": "part_isMuon",
}
PID_FEATURES = tuple(PID_BRANCHES)

#: Lorentz-invariant constituent features by group (``build.invariants``), appended in this order after the
#: standard and PID features (:mod:`jettag.features.invariants` defines them)
INVARIANT_FEATURES: dict[str, tuple[str, ...]] = {
    "running_mass": ("run_mass",),
    "previous": ("mass_prev", "kt_prev"),
    "harder": ("mass_harder", "kt_harder"),
    "jet": ("mass_fraction", "log_e_rest"),
}

#: jet-level quantities the build stage carries next to every built jet
BUILD_OBSERVERS = ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_sdmass")
#: inputs of the BDT baseline
HIGH_LEVEL_FEATURES = ("jet_mass", "jet_sdmass", "tau21", "tau32", "jet_nparticles")
#: per-jet columns carried from ``highlevel.arrow`` into ``scores.parquet`` beside label and score
OBSERVERS = (
    "jet_pt",
    "jet_eta",
    "jet_phi",
    "jet_mass",
    "jet_sdmass",
    "tau21",
    "tau32",
    "jet_nparticles",
    "jet_lead_pt_fraction",
)

#: learning-rate schedules of the training
SCHEDULES = ("cosine", "onecycle", "none")

TREE_NAME = "tree"

#: jagged per-particle branches (``part_`` prefix included) and their element dtypes
PARTICLE_BRANCHES: dict[str, np.dtype] = {
    name: np.dtype(dtype)
    for name, dtype in [
        ("part_px", "float32"),
        ("part_py", "float32"),
        ("part_pz", "float32"),
        ("part_energy", "float32"),
        ("part_deta", "float32"),
        ("part_dphi", "float32"),
        ("part_d0val", "float32"),
        ("part_d0err", "float32"),
        ("part_dzval", "float32"),
        ("part_dzerr", "float32"),
        ("part_charge", "float32"),
        ("part_isChargedHadron", "int32"),
        ("part_isNeutralHadron", "int32"),
        ("part_isPhoton", "int32"),
        ("part_isElectron", "int32"),
        ("part_isMuon", "int32"),
    ]
}

#: per-jet branches, all float32 in JetClass
JET_BRANCHES: dict[str, np.dtype] = {
    name: np.dtype("float32")
    for name in [
        "jet_pt",
        "jet_eta",
        "jet_phi",
        "jet_energy",
        "jet_nparticles",
        "jet_sdmass",
        "jet_tau1",
        "jet_tau2",
        "jet_tau3",
        "jet_tau4",
    ]
}

#: one-hot label branches; JetClass mixes dtypes, so readers cast before stacking
LABEL_BRANCHES: dict[str, np.dtype] = {
    "label_QCD": np.dtype("float32"),
    "label_Hbb": np.dtype("bool"),
    "label_Hcc": np.dtype("bool"),
    "label_Hgg": np.dtype("bool"),
    "label_H4q": np.dtype("bool"),
    "label_Hqql": np.dtype("bool"),
    "label_Zqq": np.dtype("int32"),
    "label_Wqq": np.dtype("int32"),
    "label_Tbqq": np.dtype("int32"),
    "label_Tbl": np.dtype("int32"),
}

#: the counter branch uproot adds for the jagged ``part_*`` branches it writes
COUNTER_BRANCH = "npart"

#: class names of a binary tagger, by label value: 0 the background labels, 1 the signal labels
BINARY_LABEL_NAMES = ("background", "signal")

#: processes jettag can generate, named after the JetClass class (label branch minus ``label_``)
PROCESS_LABELS: dict[str, str] = {
    "Tbqq": "label_Tbqq",
    "Wqq": "label_Wqq",
    "Zqq": "label_Zqq",
    "QCD": "label_QCD",
}


def all_branches() -> dict[str, np.dtype]:
    """Every JetClass branch jettag writes, with its dtype (jagged ones by element dtype)."""
    return {**PARTICLE_BRANCHES, **JET_BRANCHES, **LABEL_BRANCHES}


def check_classes(signal: Sequence[str], background: Sequence[str], multiclass: bool) -> None:
    """Refuse class definitions that make no sense: a label in both lists, or a multi-class tagger with a
    single signal class (that is the binary tagger)."""
    if not signal or not background:
        raise ValueError(f"need signal and background labels, got signal {signal}, background {background}")
    overlap = sorted(set(signal) & set(background))
    if overlap:
        raise ValueError(f"labels {', '.join(overlap)} are both signal and background")
    if len(set(signal)) != len(signal):
        raise ValueError(f"signal labels {list(signal)} repeat a label")
    if multiclass and len(signal) < 2:
        raise ValueError(
            f"multi-class needs at least two signal labels, got {list(signal)}; one signal label against "
            "the background is the binary tagger"
        )


def class_name(labels: Sequence[str]) -> str:
    """The name of a class made of ``labels`` (their OR): each label without a ``label_`` prefix, joined by
    ``_or_``: ``label_Tbqq`` is ``Tbqq``, ``[label_Wqq, label_Zqq]`` is ``Wqq_or_Zqq``, ``is_quark`` stays."""
    return "_or_".join(label.removeprefix("label_") for label in labels)


def class_names(signal: Sequence[str], background: Sequence[str], multiclass: bool) -> list[str]:
    """The name of each class, by label value, after the user's label branches (:func:`class_name`).

    Binary: ``[background, signal]``, e.g. ``["QCD", "Tbqq"]`` or ``["Gluon", "Quark"]``. Multi-class:
    class 0 is the background, class i+1 is ``signal[i]``: ``["QCD", "Tbqq", "Wqq"]``.
    """
    check_classes(signal, background, multiclass)
    if multiclass:
        names = [class_name(background), *(class_name([label]) for label in signal)]
    else:
        names = [class_name(background), class_name(signal)]
    if len(set(names)) != len(names):
        raise ValueError(
            f"the classes of signal {list(signal)} and background {list(background)} would share a name "
            f"({', '.join(names)}); rename a label branch"
        )
    return names
