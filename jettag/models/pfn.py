"""Particle Flow Network (Komiske, Metodiev, Thaler 2019, arXiv:1810.05165): a jet as a set of constituents.

Each constituent's features go through the same MLP Phi into a latent vector; the latent vectors of a
jet's real constituents are summed (the padding is masked out), and an MLP F maps the sum to the logits.
The sum makes the output independent of the order of the constituents and of how far a jet is padded, and
keeps the multiplicity that a mean would divide away. The inputs are the padded sequences every sequence
tagger reads (:func:`jettag.train.data.collate_sequences`: ``x`` and ``lengths``), so the ordering of the
build stage plays no role here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jettag.models.recurrent import ACTIVATIONS, mlp

__all__ = ["ParticleFlowNetwork", "real_mask"]


def real_mask(x: Tensor, lengths: Tensor | None, mask: Tensor | None) -> Tensor:
    """The bool mask ``[batch, time]`` of real constituents of padded ``x`` ``[batch, time, features]``,
    from ``lengths`` ``[batch]`` (each in ``[0, time]``) or ``mask``, after checking them against ``x``."""
    if x.ndim != 3:
        raise ValueError(f"expected padded input [batch, time, features], got shape {tuple(x.shape)}")
    if lengths is None:
        if mask is None:
            raise ValueError("padded input needs its lengths (or a mask) to tell constituents from padding")
        real = mask.to(device=x.device, dtype=torch.bool)
        if real.shape != x.shape[:2]:
            raise ValueError(
                f"expected mask [batch, time] = {list(x.shape[:2])}, got shape {tuple(real.shape)}"
            )
        return real
    lengths = torch.as_tensor(lengths).to(device=x.device, dtype=torch.int64)
    if lengths.shape != (x.shape[0],):
        raise ValueError(f"expected lengths [batch] = [{x.shape[0]}], got shape {tuple(lengths.shape)}")
    if x.shape[0] and (int(lengths.min()) < 0 or int(lengths.max()) > x.shape[1]):
        raise ValueError(
            f"lengths must lie in [0, {x.shape[1]}] (the padded length); got lengths from "
            f"{int(lengths.min())} to {int(lengths.max())}"
        )
    real = torch.arange(x.shape[1], device=x.device) < lengths[:, None]
    if mask is not None and not torch.equal(mask.to(device=x.device, dtype=torch.bool), real):
        raise ValueError("mask disagrees with the lengths")
    return real


class ParticleFlowNetwork(nn.Module):
    """Set tagger: constituents ``[batch, time, n_features]`` -> logits ``[batch, n_classes]``.

    Phi is one ``Linear + activation`` per entry of ``phi_sizes`` (the last one is the latent size), applied
    to every constituent; F is an MLP with hidden sizes ``f_sizes`` and dropout ``dropout`` between its
    layers, ending in ``n_classes`` logits (1 for a binary tagger). As in the paper's Deep Sets form, the
    latent space is a plain sum over the jet's real constituents.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int = 1,
        phi_sizes: Sequence[int] = (100, 100, 128),
        f_sizes: Sequence[int] = (100, 100, 100),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for what, value in (
            ("n_features", n_features),
            ("n_classes", n_classes),
            *(("a layer size", size) for size in (*phi_sizes, *f_sizes)),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
        if not phi_sizes:
            raise ValueError("phi_sizes must list at least one layer: the last one is the latent size")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        layers: list[nn.Module] = []
        size = n_features
        for width in phi_sizes:
            layers += [nn.Linear(size, width), ACTIVATIONS[activation]()]
            size = width
        self.phi = nn.Sequential(*layers)
        self.latent_size = size
        self.f = mlp(size, f_sizes, n_classes, activation, dropout)

    def latent(self, x: Tensor, real: Tensor) -> Tensor:
        """The sum of Phi over each jet's real constituents ``[batch, latent]``; ``real`` is the bool mask
        ``[batch, time]``. No input checks: the form the ONNX export traces."""
        per_constituent = self.phi(x)
        zero = torch.zeros((), dtype=per_constituent.dtype, device=per_constituent.device)
        # where, not a product: whatever the padding holds (even NaN) never reaches the sum
        return torch.where(real[..., None], per_constituent, zero).sum(dim=1)

    def forward(self, x: Tensor, lengths: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """Logits ``[batch, n_classes]`` for padded ``x`` ``[batch, time, features]`` with ``lengths``
        ``[batch]`` (or the ``mask`` of :func:`jettag.features.sequences.pad`)."""
        logits: Tensor = self.f(self.latent(x, real_mask(x, lengths, mask)))
        return logits
