"""Apply trained taggers to new files (``jettag predict``) and export them to ONNX (``jettag export``).

Its settings: :class:`jettag.settings.PredictSettings`, the configuration's ``predict`` section, with
ingest's reading options (``IngestSettings``) and the scoring batch size (``EvaluateSettings``), handed to
the command as ``--settings`` by the workflow's rule (see :mod:`jettag.settings` for the way from the
configuration file to the code)."""

from jettag.predict.export import export_onnx
from jettag.predict.features import InputSpec
from jettag.predict.run import SENTINEL, STATUS, predict_files

__all__ = ["SENTINEL", "STATUS", "InputSpec", "export_onnx", "predict_files"]
