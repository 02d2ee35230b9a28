"""Pythia8 + FastJet generation of top-quark, W, Z and QCD jets in the JetClass ROOT schema.

Its settings: :class:`jettag.settings.GenerateSettings`, the configuration's ``generate`` section, handed to
the command as ``--settings`` by the workflow's rule (see :mod:`jettag.settings` for the way from the
configuration file to the code)."""

from jettag.generate.shard import generate_shard

__all__ = ["generate_shard"]
