"""Jet-image CNN baseline: convolution blocks over the (Delta eta, Delta phi) image, then dense layers.

The images are those of :func:`jettag.features.images.jet_images` (one channel, pT as intensity, typically
33, 37 or 40 pixels a side). Each block halves the image (max pooling, rounding down), so the size of the
flattened features depends on the image size; it is measured with one dummy forward pass at construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from jettag.models.recurrent import mlp

__all__ = ["ImageCNN"]


class ImageCNN(nn.Module):
    """Image ``[batch, 1, size, size]`` (or ``[batch, size, size]``) -> logits ``[batch, n_classes]``.

    One block per entry of ``channels``: ``Conv2d`` (``kernel_size``, "same" padding) -> ``BatchNorm2d``
    (with ``batch_norm``; the convolution then has no bias) -> ReLU -> 2x2 max pooling. The head is an MLP
    with hidden sizes ``head_sizes``, dropout ``dropout`` before it and between its layers.
    ``n_classes=1`` gives one logit for a binary tagger.
    """

    def __init__(
        self,
        image_size: int,
        n_classes: int = 1,
        channels: Sequence[int] = (8, 16, 32),
        kernel_size: int = 3,
        batch_norm: bool = False,
        head_sizes: Sequence[int] = (64,),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for what, value, minimum in (
            ("image_size", image_size, 1),
            ("n_classes", n_classes, 1),
            ("kernel_size", kernel_size, 1),
            *(("a channel count", c, 1) for c in channels),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
        if not channels:
            raise ValueError("channels must list at least one convolution block")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if image_size < 2 ** len(channels):
            raise ValueError(
                f"{len(channels)} blocks halve a {image_size}x{image_size} image {len(channels)} times, "
                f"which leaves nothing; use at most {image_size.bit_length() - 1} blocks or larger images"
            )
        self.image_size = image_size
        blocks: list[nn.Module] = []
        in_channels = 1
        for out_channels in channels:
            blocks.append(
                nn.Conv2d(in_channels, out_channels, kernel_size, padding="same", bias=not batch_norm)
            )
            if batch_norm:
                blocks.append(nn.BatchNorm2d(out_channels))
            blocks += [nn.ReLU(), nn.MaxPool2d(2)]
            in_channels = out_channels
        self.features = nn.Sequential(*blocks, nn.Flatten())
        # eval mode, so the dummy pass leaves the BatchNorm running statistics alone
        self.features.eval()
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, 1, image_size, image_size)).shape[1]
        self.features.train()
        self.head = nn.Sequential(nn.Dropout(dropout), mlp(n_flat, head_sizes, n_classes, "relu", dropout))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[batch, n_classes]``."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        expected = (1, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"expected images [batch, 1, {self.image_size}, {self.image_size}] or "
                f"[batch, {self.image_size}, {self.image_size}], got shape {tuple(x.shape)}"
            )
        logits: Tensor = self.head(self.features(x))
        return logits
