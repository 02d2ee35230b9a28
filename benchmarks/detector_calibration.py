"""Generated jets against real TopLandscape test jets: the figures the detector is calibrated to.

The reference figures were measured on a public sample of 2,000 real TopLandscape test jets (Pythia8 +
Delphes with the ATLAS card; constituents = energy-flow four-vectors, jet = sum of constituents). This
script computes the same figures on generated JetClass-schema files, by class (the ``label_Tbqq`` and
``label_QCD`` branches), and prints them side by side with the relative difference of each median.

    python benchmarks/detector_calibration.py results/generate/*.root
"""

from __future__ import annotations

import argparse
import json

import awkward as ak
import numpy as np
import uproot

#: figure -> {class: (median, low, high)} of the real TopLandscape jets (low/high: the quantiles named)
REFERENCE = {
    "constituents, median (10%-90%)": {"top": (53, 39, 73), "QCD": (41, 20, 69)},
    "jet mass [GeV], median (25%-75%)": {"top": (174, 163, 185), "QCD": (83, 61, 120)},
    "leading constituent pT / jet pT, median": {"top": (0.19,), "QCD": (0.27,)},
}
#: constituent pT over both classes: median, 10th and 1st percentile (GeV)
REFERENCE_PT = (3.3, 0.60, 0.25)

BRANCHES = ["part_px", "part_py", "part_pz", "part_energy", "label_Tbqq", "label_QCD"]


def figures(arrays: ak.Array) -> tuple[dict[str, dict[str, tuple[float, ...]]], np.ndarray]:
    out: dict[str, dict[str, tuple[float, ...]]] = {name: {} for name in REFERENCE}
    pts = []
    for cls, label in (("top", "label_Tbqq"), ("QCD", "label_QCD")):
        a = arrays[ak.values_astype(arrays[label], bool)]
        px, py, pz, e = (
            ak.sum(a[f"part_{k}"], axis=1).to_numpy().astype(float) for k in ("px", "py", "pz", "energy")
        )
        mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0))
        pt = np.hypot(a.part_px, a.part_py)
        n = ak.num(a.part_px).to_numpy()
        lead = (ak.fill_none(ak.max(pt, axis=1), 0.0) / np.hypot(px, py)).to_numpy()
        q = np.quantile
        out["constituents, median (10%-90%)"][cls] = (q(n, 0.5), q(n, 0.1), q(n, 0.9))
        out["jet mass [GeV], median (25%-75%)"][cls] = (q(mass, 0.5), q(mass, 0.25), q(mass, 0.75))
        out["leading constituent pT / jet pT, median"][cls] = (q(lead, 0.5),)
        pts.append(ak.flatten(pt).to_numpy())
    return out, np.concatenate(pts)


def _fmt(values: tuple[float, ...]) -> str:
    text = f"{values[0]:.3g}"
    return text + (f" ({values[1]:.3g}-{values[2]:.3g})" if len(values) == 3 else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("files", nargs="+", help="generated ROOT files (tree `tree`)")
    args = parser.parse_args()
    arrays = ak.concatenate([uproot.open(f)["tree"].arrays(BRANCHES) for f in args.files])
    measured, pt = figures(arrays)
    rows = []
    print(f"{len(arrays)} jets from {len(args.files)} files\n")
    print("| per class | real TopLandscape | generated | median off by |")
    print("|---|---|---|---|")
    for name, by_class in REFERENCE.items():
        for cls, reference in by_class.items():
            ours = measured[name][cls]
            off = ours[0] / reference[0] - 1
            rows.append({"figure": name, "class": cls, "reference": reference, "generated": ours, "off": off})
            print(f"| {name}, {cls} | {_fmt(reference)} | {_fmt(ours)} | {100 * off:+.1f}% |")
    ours_pt = tuple(np.quantile(pt, q) for q in (0.5, 0.1, 0.01))
    for label, ref, value in zip(
        ("median", "10th percentile", "1st percentile"), REFERENCE_PT, ours_pt, strict=True
    ):
        off = 100 * (value / ref - 1)
        print(f"| constituent pT {label} [GeV], both | {ref:.3g} | {value:.3g} | {off:+.1f}% |")
        rows.append({"figure": f"constituent pT {label}", "reference": ref, "generated": value})
    print(json.dumps(rows, default=float))


if __name__ == "__main__":
    main()
