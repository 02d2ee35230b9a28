"""Published top-tagging results to set beside jettag's numbers (REFERENCE.md section 4).

They were measured on the TopLandscape test set (Pythia8 + Delphes detector simulation, 14 TeV, jet pT
550-650 GeV, 1.2M/400k/400k jets); jettag's default sample is generated at particle level with other
statistics, so the comparison shows orders of magnitude, not a like-for-like ranking.
"""

from __future__ import annotations

__all__ = ["GROUPS", "PUBLISHED", "SAMPLE_NOTE", "group_of"]

#: how the report groups taggers, in its order, and the model kinds (``metrics.json`` ``kind``) of each
GROUPS: dict[str, tuple[str, ...]] = {
    "recurrent": ("recurrent",),
    "image": ("cnn",),
    "set and graph": ("pfn", "particlenet"),
    "high-level": ("bdt",),
}


def group_of(kind: str) -> str:
    """The report group of a model kind (``other`` for a kind no group lists)."""
    return next((group for group, kinds in GROUPS.items() if kind in kinds), "other")


SAMPLE_NOTE = (
    "Published numbers are for the TopLandscape test set (Pythia8 + Delphes detector simulation, 400k test "
    "jets). jettag's numbers are for its own sample (by default Pythia8 jets through jettag's parametric "
    "detector with Delphes' ATLAS card, a few thousand test jets, far fewer training jets): the samples "
    "differ, so read the comparison as orders of magnitude, not as a ranking."
)

#: model, its group (:data:`GROUPS`), parameters, AUC, accuracy, 1/eps_B at eps_S = 0.5 and 0.3 (None: not
#: published), source. TreeNiN (a recursive net over the clustering tree) and P-CNN (a 1D convolution over
#: the ordered constituents) read ordered sequences, as jettag's recurrent taggers do.
PUBLISHED: list[dict[str, object]] = [
    {"model": "CNN (jet images)", "group": "image", "params": "610k", "auc": 0.981, "accuracy": 0.930,
     "rejection_0.5": None, "rejection_0.3": "914 ± 14", "source": "arXiv:1902.09914 Table 1 (unverified)"},
    {"model": "ResNeXt (jet images)", "group": "image", "params": "1.46M", "auc": 0.984, "accuracy": 0.936,
     "rejection_0.5": None, "rejection_0.3": "1122 ± 47", "source": "arXiv:1902.09914 (unverified)"},
    {"model": "TreeNiN", "group": "recurrent", "params": "34k", "auc": 0.982, "accuracy": 0.933,
     "rejection_0.5": None, "rejection_0.3": "1025 ± 11", "source": "arXiv:1902.09914 (unverified)"},
    {"model": "P-CNN", "group": "recurrent", "params": "348k", "auc": 0.980, "accuracy": 0.930,
     "rejection_0.5": None, "rejection_0.3": "732 ± 24", "source": "arXiv:1902.09914 (unverified)"},
    {"model": "PFN", "group": "set and graph", "params": "82k", "auc": 0.982, "accuracy": 0.932,
     "rejection_0.5": "247 ± 3", "rejection_0.3": "888 ± 17", "source": "arXiv:1902.09914"},
    {"model": "ParticleNet", "group": "set and graph", "params": "0.4M", "auc": 0.9858, "accuracy": 0.940,
     "rejection_0.5": "397 ± 7", "rejection_0.3": "1615 ± 93", "source": "arXiv:2202.03772"},
    {"model": "ParT", "group": "set and graph", "params": "2.1M", "auc": 0.9858, "accuracy": 0.940,
     "rejection_0.5": "413 ± 16", "rejection_0.3": "1602 ± 81", "source": "arXiv:2202.03772"},
    {"model": "LorentzNet", "group": "set and graph", "params": "0.2M", "auc": 0.9868, "accuracy": 0.942,
     "rejection_0.5": "498 ± 18", "rejection_0.3": "2195 ± 173", "source": "arXiv:2201.08187"},
    {"model": "L-GATr", "group": "set and graph", "params": "1.1M", "auc": 0.9870, "accuracy": 0.9423,
     "rejection_0.5": "540 ± 20", "rejection_0.3": "2240 ± 70", "source": "arXiv:2411.00446"},
    {"model": "BDT on high-level features", "group": "high-level",
     "params": None, "auc": None, "accuracy": None,
     "rejection_0.5": None, "rejection_0.3": "90 ± 1", "source": "transcribed tables (unverified)"},
    {"model": "LSTM on pT-ordered constituents (other sample)", "group": "recurrent",
     "params": None, "auc": None,
     "accuracy": None, "rejection_0.5": "100", "rejection_0.3": None, "source": "arXiv:1711.09059"},
]  # fmt: skip
