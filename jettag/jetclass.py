"""The JetClass ROOT schema: tree name, branch names and dtypes.

jettag writes generated jets with exactly these names and dtypes, so real JetClass files can replace
them without any change. uproot writes jagged branches as ``float[]`` with one shared counter branch
``npart``; JetClass files hold ``vector<float>`` and no counter. Readers accept both.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BINARY_LABEL_NAMES",
    "COUNTER_BRANCH",
    "JET_BRANCHES",
    "LABEL_BRANCHES",
    "PARTICLE_BRANCHES",
    "PROCESS_LABELS",
    "TREE_NAME",
    "all_branches",
]

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
