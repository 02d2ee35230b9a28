"""Taggers as plain ``nn.Module``: recurrent networks over constituents, a CNN over jet images, and the
model configurations (``configs/models/*.yaml``) that build them."""

from jettag.models.cnn import ImageCNN
from jettag.models.config import (
    MODEL_KINDS,
    build_model,
    load_model_config,
    n_parameters,
    validate_model_config,
)
from jettag.models.recurrent import CELLS, READOUTS, RecurrentTagger

__all__ = [
    "CELLS",
    "MODEL_KINDS",
    "READOUTS",
    "ImageCNN",
    "RecurrentTagger",
    "build_model",
    "load_model_config",
    "n_parameters",
    "validate_model_config",
]
