"""ParticleNet (Qu, Gouskos 2020, arXiv:1902.08570) on jettag's constituent sequences, from weaver-core.

The network is weaver-core's own ``weaver.nn.model.ParticleNet.ParticleNet`` (the implementation the
authors maintain; installed by jettag's ``reference`` extra); only its network module is used. This
wrapper gives it the inputs it expects from the padded batches every sequence tagger reads
(:func:`jettag.train.data.collate_sequences`: ``x`` ``[batch, time, features]`` and ``lengths``):

- ``points`` ``[batch, 2, time]``: (Delta eta, Delta phi) of each constituent, the coordinates of the
  first k-nearest-neighbour graph. They are the ``deta`` and ``dphi`` columns of ``x`` with the build
  stage's standardisation undone, so distances are the physical ones (as in weaver's top-tagging
  configuration, which leaves the points unscaled);
- ``features`` ``[batch, features, time]``: all standardised features of ``x``, zero on padding;
- ``mask`` ``[batch, 1, time]``: True on real constituents.

Two choices differ from weaver's constructor defaults, both for jettag's batches:

- ``trim=False``: weaver's ``SequenceTrimmer`` cuts each batch to its longest jet (at inference) or, in
  training, randomly to 90-102% of a length quantile. jettag's data module already pads each batch only
  to its longest jet (with length buckets), and a random cut below k + 1 constituents on a batch of short
  jets would leave the kNN's ``topk`` too few points.
- batches are padded to at least ``max(k) + 1`` positions: the kNN of a point takes its k + 1 nearest
  points (itself included) and needs that many. A jet with fewer real constituents then takes padded
  points as neighbours, which ParticleNet places at 1e9 with zero features, so the result does not
  depend on how far a jet is padded beyond that.

``for_inference`` stays off: it would add a softmax, and jettag's taggers return logits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jettag.extras import missing_extra
from jettag.models.pfn import real_mask

__all__ = ["POINT_FEATURES", "ParticleCloudTagger", "weaver_particlenet"]

#: the constituent features whose un-standardised values are ParticleNet's points
POINT_FEATURES = ("deta", "dphi")


def weaver_particlenet() -> type[nn.Module]:
    """weaver-core's ``ParticleNet`` class; a ``ValueError`` with the install command when it is missing."""
    problem = missing_extra("particlenet")
    if problem is not None:
        raise ValueError(problem)
    # weaver logs its constructor's arguments at INFO on its own logger; they are in the model config
    logging.getLogger("weaver").setLevel(logging.WARNING)
    from weaver.nn.model.ParticleNet import ParticleNet

    particlenet: type[nn.Module] = ParticleNet
    return particlenet


class ParticleCloudTagger(nn.Module):
    """weaver-core's ParticleNet on padded constituents ``[batch, time, n_features]`` -> logits
    ``[batch, n_classes]``.

    ``conv_params`` (EdgeConv blocks, each ``(k, channels)``), ``fc_params`` (dense layers, each
    ``(size, dropout)``), ``use_fusion``, ``use_fts_bn`` and ``use_counts`` are weaver's arguments under
    weaver's names, with weaver's defaults. ``point_index`` are the columns of ``x`` holding the
    standardised Delta eta and Delta phi, ``point_mean`` and ``point_std`` their standardisation (see the
    module docstring); the data decide them, :func:`jettag.models.build_model` fills them in.
    """

    point_index: Tensor
    point_mean: Tensor
    point_std: Tensor

    def __init__(
        self,
        n_features: int,
        n_classes: int = 1,
        conv_params: Sequence[tuple[int, Sequence[int]]] = ((7, (32, 32, 32)), (7, (64, 64, 64))),
        fc_params: Sequence[tuple[int, float]] = ((128, 0.1),),
        use_fusion: bool = True,
        use_fts_bn: bool = True,
        use_counts: bool = True,
        point_index: Sequence[int] = (5, 6),
        point_mean: Sequence[float] = (0.0, 0.0),
        point_std: Sequence[float] = (1.0, 1.0),
    ) -> None:
        super().__init__()
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be an integer >= 1, got {n_features!r}")
        if len(point_index) != 2 or not all(0 <= int(i) < n_features for i in point_index):
            raise ValueError(f"point_index must be two feature columns of {n_features}, got {point_index}")
        if not conv_params:
            raise ValueError("conv_params must list at least one EdgeConv block")
        conv = [(int(k), tuple(int(c) for c in channels)) for k, channels in conv_params]
        fc = [(int(size), float(rate)) for size, rate in fc_params]
        if not fc:
            raise ValueError("fc_params must list at least one dense layer")
        self.particlenet = weaver_particlenet()(
            input_dims=n_features,
            num_classes=n_classes,
            conv_params=conv,
            fc_params=fc,
            use_fusion=use_fusion,
            use_fts_bn=use_fts_bn,
            use_counts=use_counts,
            trim=False,
        )
        #: batches are padded to at least this many positions (the largest k, plus the point itself)
        self.min_length = max(k for k, _ in conv) + 1
        # data-derived constants, rebuilt from the artefact: not part of the weights
        self.register_buffer("point_index", torch.as_tensor(list(point_index), dtype=torch.int64), False)
        self.register_buffer("point_mean", torch.as_tensor(list(point_mean), dtype=torch.float32), False)
        self.register_buffer("point_std", torch.as_tensor(list(point_std), dtype=torch.float32), False)

    def particlenet_inputs(self, x: Tensor, real: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(points, features, mask)`` in weaver's layout for padded ``x`` and the bool mask ``real``
        ``[batch, time]``. No input checks and no padding: the form the ONNX export traces."""
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        features = torch.where(real[..., None], x, zero)
        points = torch.index_select(features, 2, self.point_index) * self.point_std + self.point_mean
        return points.transpose(1, 2), features.transpose(1, 2), real[:, None, :]

    def forward(self, x: Tensor, lengths: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """Logits ``[batch, n_classes]`` for padded ``x`` ``[batch, time, features]`` with ``lengths``
        ``[batch]`` (or the ``mask`` of :func:`jettag.features.sequences.pad`)."""
        real = real_mask(x, lengths, mask)
        missing = self.min_length - x.shape[1]
        if missing > 0:
            x = nn.functional.pad(x, (0, 0, 0, missing))
            real = nn.functional.pad(real, (0, missing))
        logits: Tensor = self.particlenet(*self.particlenet_inputs(x, real))
        return logits
