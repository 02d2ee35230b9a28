"""Pythia8 + FastJet generation of top-quark, W, Z and QCD jets in the JetClass ROOT schema."""

from jettag.generate.shard import generate_shard

__all__ = ["generate_shard"]
