"""Write ``jetclass_vector.root``: jets of jettag's own generator with their jagged branches as
``std::vector<float>`` / ``std::vector<int>``, the layout of the real JetClass files, which uproot reads but
cannot write. Needs ROOT (``pip install root``), which jettag itself does not:

    jettag generate --process Tbqq --seed 11 --jets-per-shard 60 --output Tbqq.root
    jettag generate --process QCD --seed 11 --jets-per-shard 60 --output QCD.root
    python tests/data/make_jetclass_vector.py Tbqq.root QCD.root tests/data/jetclass_vector.root
"""

from __future__ import annotations

import sys

import ROOT


def main(*paths: str) -> None:
    *inputs, output = paths
    frame = ROOT.RDataFrame("tree", inputs)
    names = [str(name) for name in frame.GetColumnNames() if str(name) != "npart"]
    for name in names:
        if name.startswith("part_"):
            element = "int" if "int" in str(frame.GetColumnType(name)).lower() else "float"
            frame = frame.Redefine(name, f"std::vector<{element}>({name}.begin(), {name}.end())")
    options = ROOT.RDF.RSnapshotOptions()
    options.fCompressionAlgorithm = ROOT.RCompressionSetting.EAlgorithm.kZLIB
    options.fCompressionLevel = 9
    frame.Snapshot("tree", output, names, options)


if __name__ == "__main__":
    main(*sys.argv[1:])
