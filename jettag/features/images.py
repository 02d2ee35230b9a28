"""Jet images for a CNN baseline: constituents pixelated in (Delta eta, Delta phi) with pT as intensity.

The preprocessing follows the usual recipe of the field (arXiv:1511.05190, arXiv:1803.00107) and every step
can be switched off in :class:`ImageSpec`. The steps run in this order; (x, y) = (Delta eta, Delta phi) of a
constituent relative to the jet axis, w = its pT, and all moments use every constituent of the jet:

1. ``centre``: subtract the pT-weighted centroid, x -= sum(w x) / sum(w), likewise y. Without it the image
   centre is the jet axis (x = y = 0).
2. ``rotate``: find the principal axis of the pT-weighted covariance about the centroid (the eigenvector of
   the larger eigenvalue), at angle theta = atan2(2 C_xy, C_xx - C_yy) / 2 in (-pi/2, pi/2] from +Delta eta,
   and rotate every constituent by -theta about the image centre, x' = x cos(theta) + y sin(theta),
   y' = -x sin(theta) + y cos(theta). The principal axis then runs *vertically*, which here means along the
   Delta eta direction = axis 1 of the image (the rows): a two-prong jet lands in the centre column. A jet
   whose spread is isotropic (eigenvalues equal to 1e-18 per unit pT: one constituent, none) is not rotated.
3. Pixelation: the window is [-extent/2, extent/2) in both coordinates, split into ``size`` equal pixels;
   pixel (i, j) = (floor((x + extent/2) / width), floor((y + extent/2) / width)) with width = extent/size,
   so row 0 is the most negative Delta eta and column 0 the most negative Delta phi. Intensity is the summed
   pT. Constituents outside the window are dropped from the image (they still count in steps 1 and 2).
4. ``flip``: on the pixelated image, if the rows with Delta eta < 0 (i < (size - 1) / 2) hold more pT than the
   rows with Delta eta > 0 (i > (size - 1) / 2), mirror the rows (i -> size - 1 - i); likewise the columns.
   For odd ``size`` the centre row/column counts for neither half; ties are not flipped. The harder half
   thus always sits at positive Delta eta (high row index) and positive Delta phi (high column index): the
   hardest part of the jet lies in the (+Delta eta, +Delta phi) quadrant, the bottom-right one when drawn
   with matplotlib's ``imshow`` default ``origin="upper"``.
5. ``normalise``: divide each image by its total (in-window) intensity, so it sums to 1. Images with no
   in-window pT (jets with no constituents) stay all zero.

Everything is vectorised over jets: constituents are flattened to numpy once, per-jet moments come from
``np.bincount`` over the jet index, and all constituents are binned with one ``np.bincount`` into a flat
(n_jets * size * size) buffer, so callers with millions of jets should pass them in chunks.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from jettag.settings import ImageSpec

__all__ = ["jet_images"]

#: difference of the covariance eigenvalues per unit pT (squared angle units) below which a jet is not rotated
_ISOTROPIC = 1e-18


def _flat(values: ak.Array, name: str) -> np.ndarray:
    """Constituent values of all jets as one float64 array, checked to be finite."""
    if values.ndim != 2:
        raise ValueError(f"{name} must be a jagged array with one list per jet, got type {values.type}")
    flat = np.asarray(ak.to_numpy(ak.flatten(values, axis=1)), dtype=np.float64)
    if not np.all(np.isfinite(flat)):
        raise ValueError(f"{name} holds non-finite values (NaN or inf)")
    return flat


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator as float64 where the denominator is positive, 0 elsewhere (empty jets)."""
    return np.divide(numerator, denominator, out=np.zeros(np.shape(numerator)), where=denominator > 0)


def jet_images(deta: ak.Array, dphi: ak.Array, pt: ak.Array, spec: ImageSpec) -> np.ndarray:
    """Jet images, float32 (n_jets, size, size): axis 1 = Delta eta (rows), axis 2 = Delta phi (columns).

    ``deta``, ``dphi`` and ``pt`` hold one list per jet (Delta eta and Delta phi relative to the jet axis, pT
    of each constituent) with equal lengths. Pixel intensity is the summed pT after the preprocessing that
    ``spec`` switches on, as described in the module docstring.
    """
    x, y, w = _flat(deta, "deta"), _flat(dphi, "dphi"), _flat(pt, "pt")
    counts = np.asarray(ak.to_numpy(ak.num(pt, axis=1)), dtype=np.int64)
    for name, values in (("deta", deta), ("dphi", dphi)):
        if len(values) != len(pt) or not np.array_equal(ak.to_numpy(ak.num(values, axis=1)), counts):
            raise ValueError(f"{name} and pt must have the same number of jets and constituents per jet")
    n_jets, size = len(counts), spec.size
    jet = np.repeat(np.arange(n_jets), counts)

    sum_w = np.bincount(jet, w, minlength=n_jets)
    if spec.centre or spec.rotate:
        cx = _safe_divide(np.bincount(jet, w * x, minlength=n_jets), sum_w)
        cy = _safe_divide(np.bincount(jet, w * y, minlength=n_jets), sum_w)
    if spec.rotate:
        # covariance about the centroid; its normalisation does not change the axis, so it is left out
        dx, dy = x - cx[jet], y - cy[jet]
        cxx = np.bincount(jet, w * dx * dx, minlength=n_jets)
        cyy = np.bincount(jet, w * dy * dy, minlength=n_jets)
        cxy = np.bincount(jet, w * dx * dy, minlength=n_jets)
        # an isotropic spread (e.g. one constituent) has no axis; rounding noise must not pick one
        isotropic = np.hypot(cxx - cyy, 2.0 * cxy) <= _ISOTROPIC * sum_w
        theta = np.where(isotropic, 0.0, 0.5 * np.arctan2(2.0 * cxy, cxx - cyy))
    if spec.centre:
        x, y = x - cx[jet], y - cy[jet]
    if spec.rotate:
        cos, sin = np.cos(theta)[jet], np.sin(theta)[jet]
        x, y = x * cos + y * sin, y * cos - x * sin

    # pixel coordinates in units of the pixel width; NaN-free, so the comparisons drop exactly the outside
    u = (x + 0.5 * spec.extent) * (size / spec.extent)
    v = (y + 0.5 * spec.extent) * (size / spec.extent)
    inside = (u >= 0) & (u < size) & (v >= 0) & (v < size)
    row = np.minimum(np.floor(u[inside]).astype(np.int64), size - 1)
    col = np.minimum(np.floor(v[inside]).astype(np.int64), size - 1)
    pixel = (jet[inside] * size + row) * size + col
    images = np.bincount(pixel, w[inside], minlength=n_jets * size * size).reshape(n_jets, size, size)

    if spec.flip:
        low, high = slice(0, size // 2), slice((size + 1) // 2, size)
        rows = images.sum(axis=2)
        flip_rows = rows[:, low].sum(axis=1) > rows[:, high].sum(axis=1)
        images[flip_rows] = images[flip_rows, ::-1, :]
        cols = images.sum(axis=1)
        flip_cols = cols[:, low].sum(axis=1) > cols[:, high].sum(axis=1)
        images[flip_cols] = images[flip_cols, :, ::-1]
    if spec.normalise:
        images = _safe_divide(images, images.sum(axis=(1, 2))[:, None, None])
    return images.astype(np.float32)
