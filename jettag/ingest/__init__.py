"""Ingest jet-constituent files (JetClass ROOT, TopLandscape HDF5 / parquet) into split columnar shards.

Its settings: :class:`jettag.settings.IngestSettings`, the configuration's ``ingest`` section with the top
level's ``signal``, ``background`` and ``multiclass``, handed to the command as ``--settings`` by the
workflow's rule (see :mod:`jettag.settings` for the way from the configuration file to the code)."""

from jettag.ingest.errors import IngestError
from jettag.ingest.prepare import DROP_REASONS
from jettag.ingest.run import ingest_file

__all__ = ["DROP_REASONS", "IngestError", "ingest_file"]
