"""Apply trained taggers to new files (``jettag predict``) and export them to ONNX (``jettag export``)."""

from jettag.predict.export import export_onnx
from jettag.predict.features import InputSpec
from jettag.predict.run import SENTINEL, STATUS, predict_files

__all__ = ["SENTINEL", "STATUS", "InputSpec", "export_onnx", "predict_files"]
