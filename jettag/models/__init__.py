"""Taggers as plain ``nn.Module``: recurrent networks over constituents, a CNN over jet images, a Particle
Flow Network and weaver-core's ParticleNet over the set of constituents, and the model configurations
(``configs/models/*.yaml``) that build them."""

from jettag.models.cnn import ImageCNN
from jettag.models.config import (
    MODEL_KINDS,
    MODEL_TRAIN_KEYS,
    build_model,
    load_model_config,
    n_parameters,
    validate_model_config,
)
from jettag.models.particlenet import ParticleCloudTagger
from jettag.models.pfn import ParticleFlowNetwork
from jettag.models.recurrent import CELLS, READOUTS, RecurrentTagger

__all__ = [
    "CELLS",
    "MODEL_KINDS",
    "MODEL_TRAIN_KEYS",
    "READOUTS",
    "ImageCNN",
    "ParticleCloudTagger",
    "ParticleFlowNetwork",
    "RecurrentTagger",
    "build_model",
    "load_model_config",
    "n_parameters",
    "validate_model_config",
]
