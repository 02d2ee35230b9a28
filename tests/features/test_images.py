"""Jet images: pixel positions by hand, two-prong geometry after preprocessing, and a per-jet reference."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from jettag.features.images import jet_images
from jettag.settings import ImageSpec

#: every preprocessing step off: the image is the plain pT histogram around the jet axis
RAW = ImageSpec.create(centre=False, rotate=False, flip=False, normalise=False)


def jets(*constituents: list[tuple[float, float, float]]) -> tuple[ak.Array, ak.Array, ak.Array]:
    """(deta, dphi, pt) jagged arrays from one list of (deta, dphi, pt) tuples per jet."""
    columns = [[[c[k] for c in jet] for jet in constituents] for k in range(3)]
    return tuple(ak.values_astype(ak.Array(column), np.float64) for column in columns)


def two_prong_jet(angle: float, offset: tuple[float, float]) -> list[tuple[float, float, float]]:
    """Prongs of pT 3 (hard) and 1 (soft) 0.8 apart along ``angle``, each three constituents spread along the
    prong axis; the pT-weighted centroid sits at ``offset``, 0.2 from the hard prong and 0.6 from the soft.
    """
    axis = np.array([np.cos(angle), np.sin(angle)])
    parts = []
    for distance, pt in ((0.2, 3.0), (-0.6, 1.0)):
        for shift in (-0.005, 0.0, 0.005):
            deta, dphi = np.asarray(offset) + (distance + shift) * axis
            parts.append((float(deta), float(dphi), pt / 3))
    return parts


def reference_images(deta: ak.Array, dphi: ak.Array, pt: ak.Array, spec: ImageSpec) -> np.ndarray:
    """The same preprocessing written jet by jet with np.histogram2d and an eigen-decomposition."""
    half = spec.extent / 2
    images = []
    for x, y, w in zip(deta.tolist(), dphi.tolist(), pt.tolist(), strict=True):
        points, w = np.array([x, y], dtype=np.float64).reshape(2, -1).T, np.array(w, dtype=np.float64)
        if len(w) and spec.centre:
            points = points - np.average(points, axis=0, weights=w)
        if len(w) > 1 and spec.rotate:
            centred = points - np.average(points, axis=0, weights=w)
            _, vectors = np.linalg.eigh((w * centred.T) @ centred)
            major = vectors[:, -1] if vectors[0, -1] >= 0 else -vectors[:, -1]  # theta in (-pi/2, pi/2]
            points = points @ np.array([major, [-major[1], major[0]]]).T
        image, _, _ = np.histogram2d(
            points[:, 0], points[:, 1], bins=spec.size, range=[[-half, half], [-half, half]], weights=w
        )
        if spec.flip:
            low, high = slice(0, spec.size // 2), slice((spec.size + 1) // 2, spec.size)
            if image[low].sum() > image[high].sum():
                image = image[::-1]
            if image[:, low].sum() > image[:, high].sum():
                image = image[:, ::-1]
        if spec.normalise and image.sum() > 0:
            image = image / image.sum()
        images.append(image)
    return np.array(images).reshape(-1, spec.size, spec.size)


def random_jets(rng: np.random.Generator, n_jets: int = 50) -> tuple[ak.Array, ak.Array, ak.Array]:
    """Jets of 0 to 40 constituents, wide enough that some fall outside the default window."""
    counts = rng.integers(0, 41, size=n_jets)
    counts[:3] = [0, 1, 2]
    total = counts.sum()
    spread = rng.uniform(0.1, 0.4, size=n_jets).repeat(counts)
    deta = rng.normal(0.05, 1.0, size=total) * spread
    dphi = rng.normal(-0.05, 0.6, size=total) * spread
    pt = rng.exponential(10.0, size=total).astype(np.float32)
    return (
        ak.unflatten(deta.astype(np.float32), counts),
        ak.unflatten(dphi, counts),
        ak.unflatten(pt, counts),
    )


@pytest.mark.parametrize("angle", [0.0, 0.4, 1.3, np.pi / 2, 2.5, -2.0])
def test_two_prongs_on_vertical_axis(angle: float) -> None:
    pixel = 1.6 / 37
    deta, dphi, pt = jets(two_prong_jet(angle, offset=(0.07, -0.04)))
    image = jet_images(deta, dphi, pt, ImageSpec.create(flip=False, normalise=False))[0]
    rows, cols = np.nonzero(image)
    # both blobs on the centre column, 0.8 apart: 0.8 / pixel = 18.5, so 18 or 19 rows
    assert set(cols) == {18}
    assert image.sum() == pytest.approx(4.0)
    hard_row, soft_row = rows[np.argmax(image[rows, cols])], rows[np.argmin(image[rows, cols])]
    assert image[hard_row].sum() == pytest.approx(3.0)
    assert image[soft_row].sum() == pytest.approx(1.0)
    # unflipped, the principal axis may point either way: hard at +0.2 and soft at -0.6, or mirrored
    up, down = (
        (int((0.8 + 0.2) / pixel), int((0.8 - 0.6) / pixel)),
        (int((0.8 - 0.2) / pixel), int((0.8 + 0.6) / pixel)),
    )
    assert (up, down) == ((23, 4), (13, 32))
    assert (hard_row, soft_row) in {up, down}
    assert abs(hard_row - soft_row) * pixel == pytest.approx(0.8, abs=pixel)

    flipped = jet_images(deta, dphi, pt, ImageSpec.create(normalise=False))[0]
    # documented convention: the harder half at positive Delta eta, i.e. rows below the centre row 18
    assert flipped[23, 18] == pytest.approx(3.0)
    assert flipped[4, 18] == pytest.approx(1.0)
    assert flipped.sum() == pytest.approx(4.0)


def test_flip_puts_hardest_part_in_positive_quadrant() -> None:
    # hard (pT 5) and soft (pT 1) constituents at pixel centres (width 0.1) in three different quadrants
    deta, dphi, pt = jets(
        [(-0.35, -0.25, 5.0), (0.15, 0.15, 1.0)],
        [(-0.35, 0.25, 5.0), (0.15, -0.15, 1.0)],
        [(0.35, 0.25, 5.0), (-0.15, -0.15, 1.0)],
    )
    spec = ImageSpec.create(size=16, centre=False, rotate=False, flip=False, normalise=False)
    raw = jet_images(deta, dphi, pt, spec)
    assert [np.argwhere(image == 5).tolist() for image in raw] == [[[4, 5]], [[4, 10]], [[11, 10]]]
    flipped = jet_images(
        deta, dphi, pt, ImageSpec.create(size=16, centre=False, rotate=False, normalise=False)
    )
    # documented convention: the hard part ends in the (+Delta eta, +Delta phi) quadrant, rows and columns > 7
    for image in flipped:
        assert np.argwhere(image).tolist() == [[6, 6], [11, 10]]
        assert image[11, 10] == pytest.approx(5.0)
        assert image[6, 6] == pytest.approx(1.0)


def test_single_constituent_pixel_by_hand() -> None:
    deta, dphi, pt = jets([(0.123, -0.456, 7.5)])
    image = jet_images(
        deta,
        dphi,
        pt,
        ImageSpec.create(size=16, extent=1.6, centre=False, rotate=False, flip=False, normalise=False),
    )[0]
    # width 0.1: row floor((0.123 + 0.8) / 0.1) = 9, column floor((-0.456 + 0.8) / 0.1) = 3
    assert np.argwhere(image).tolist() == [[9, 3]]
    assert image[9, 3] == pytest.approx(7.5)

    image = jet_images(deta, dphi, pt, RAW)[0]
    # default 37 pixels over 1.6: row floor(0.923 / 0.043243) = 21, column floor(0.344 / 0.043243) = 7
    assert np.argwhere(image).tolist() == [[21, 7]]


def test_normalisation() -> None:
    deta, dphi, pt = random_jets(np.random.default_rng(1))
    unnormalised = jet_images(deta, dphi, pt, ImageSpec.create(normalise=False)).sum(
        axis=(1, 2), dtype=np.float64
    )
    sums = jet_images(deta, dphi, pt, ImageSpec.create()).sum(axis=(1, 2), dtype=np.float64)
    filled = unnormalised > 0
    assert filled.sum() >= 45
    assert sums[filled] == pytest.approx(1.0, abs=1e-5)
    assert np.all(sums[~filled] == 0)

    raw = jet_images(deta, dphi, pt, RAW).sum(axis=(1, 2), dtype=np.float64)
    inside = (abs(deta) < 0.8) & (abs(dphi) < 0.8)
    assert np.any(ak.any(~inside, axis=1)), "some constituents should fall outside the window"
    assert raw == pytest.approx(ak.to_numpy(ak.sum(pt[inside], axis=1)), rel=1e-5)
    assert np.all(raw < ak.to_numpy(ak.sum(pt, axis=1)) + 1e-3)


def test_empty_jet_and_outside_window() -> None:
    deta, dphi, pt = jets([], [(0.1, 0.2, 2.0), (0.9, 0.0, 5.0), (0.0, -1.2, 4.0)], [(2.0, 2.0, 1.0)])
    for spec in (RAW, ImageSpec.create()):
        images = jet_images(deta, dphi, pt, spec)
        assert images.shape == (3, 37, 37)
        assert images.dtype == np.float32
        assert np.all(np.isfinite(images))
        assert not images[0].any()
    raw = jet_images(deta, dphi, pt, RAW)
    # only the (0.1, 0.2) constituent is inside [-0.8, 0.8); the far jet has nothing inside
    assert np.argwhere(raw[1]).tolist() == [[int(0.9 / (1.6 / 37)), int(1.0 / (1.6 / 37))]]
    assert raw[1].sum() == pytest.approx(2.0)
    assert not raw[2].any()
    # centring brings the lone far constituent to the centre pixel
    assert jet_images(deta, dphi, pt, ImageSpec.create())[2, 18, 18] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "spec",
    [
        RAW,
        ImageSpec.create(rotate=False, flip=False, normalise=False),
        ImageSpec.create(size=33, extent=1.2, rotate=False),
        ImageSpec.create(),
        ImageSpec.create(size=40, centre=False, flip=False),
    ],
    ids=["off", "centre", "centre-flip-norm", "all", "rotate-even"],
)
def test_matches_per_jet_reference(spec: ImageSpec) -> None:
    deta, dphi, pt = random_jets(np.random.default_rng(7))
    expected = reference_images(deta, dphi, pt, spec)
    got = jet_images(deta, dphi, pt, spec)
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(got) > 100


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"size": 0}, "size"),
        ({"size": -3}, "size"),
        ({"size": 2.5}, "size"),
        ({"extent": 0.0}, "extent"),
        ({"extent": -1.6}, "extent"),
        ({"extent": float("nan")}, "extent"),
    ],
)
def test_bad_spec(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"(ImageSpec\.|build\.image\.){field}\b"):
        ImageSpec.create(**kwargs)


def test_mismatched_inputs() -> None:
    deta, _, pt = jets([(0.1, 0.2, 2.0)])
    with pytest.raises(ValueError, match="dphi"):
        jet_images(deta, ak.Array([[0.1, 0.2]]), pt, ImageSpec.create())


def test_single_constituent_is_not_rotated() -> None:
    # a lone constituent has no principal axis: rotation about the jet axis must leave it where it is
    deta, dphi, pt = jets([(0.22413554787635803, 0.1378747977129449, 1.9)], [(-0.5, 0.3, 1.0)])
    images = jet_images(deta, dphi, pt, ImageSpec.create(size=16, centre=False, flip=False, normalise=False))
    assert np.argwhere(images[0]).tolist() == [[10, 9]]
    assert np.argwhere(images[1]).tolist() == [[3, 11]]
