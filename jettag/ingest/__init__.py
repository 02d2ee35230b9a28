"""Ingest jet-constituent files (JetClass ROOT, TopLandscape HDF5 / parquet) into split columnar shards."""

from jettag.ingest.errors import IngestError
from jettag.ingest.prepare import DROP_REASONS, Selection
from jettag.ingest.run import IngestSettings, ingest_file

__all__ = ["DROP_REASONS", "IngestError", "IngestSettings", "Selection", "ingest_file"]
