"""Ingest jet-constituent files (JetClass ROOT, TopLandscape HDF5 / parquet) into split columnar shards."""

from jettag.ingest.errors import IngestError
from jettag.ingest.prepare import DROP_REASONS
from jettag.ingest.run import ingest_file

__all__ = ["DROP_REASONS", "IngestError", "ingest_file"]
