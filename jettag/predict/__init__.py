"""Apply trained taggers to new files (``jettag predict``) and export them to ONNX (``jettag export``)."""
