"""Where each particle meets the calorimeter: straight lines for neutral particles, helices in the solenoid's
field for charged ones, from the production vertex to the cylinder of the calorimeter entrance.

The geometry is that of Delphes' ``ParticlePropagator``: a cylinder of radius R and half-length L with a
uniform field B along z. A charged particle of transverse momentum pT (GeV) and charge q moves on a circle of
radius r = pT / (0.2998 q B) metres; it reaches the barrel if the circle does, and an endcap if it leaves
through z = +-L first. A particle whose circle stays inside R and that would need more than half a turn to
reach an endcap curls up in the field: it leaves no calorimeter hit (its track may still be measured).
All of it is numpy over flat arrays of every particle of a batch of events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CalorimeterHits", "propagate"]

#: GeV per (T m): pT = 0.2998 |q| B r
C_LIGHT = 0.299792458


@dataclass
class CalorimeterHits:
    """Per particle: eta and phi of the point where it leaves the solenoid's volume (through the barrel or
    an endcap, after any number of turns), whether it was inside it at all, whether that point is a
    calorimeter hit (``reached``), and whether it curled up before (no hit)."""

    eta: np.ndarray
    phi: np.ndarray
    inside: np.ndarray
    reached: np.ndarray
    curled: np.ndarray


def propagate(
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    charge: np.ndarray,
    vertex: tuple[np.ndarray, np.ndarray, np.ndarray],
    radius: float,
    half_length: float,
    bz: float,
) -> CalorimeterHits:
    """Where each particle leaves it: ``vertex`` in mm, ``radius``, ``half_length`` in m, ``bz`` in T.

    Particles produced outside the cylinder, or with no transverse momentum, reach nothing.
    """
    x0, y0, z0 = (np.asarray(v, dtype=float) * 1e-3 for v in vertex)
    pt = np.hypot(px, py)
    inside = (np.hypot(x0, y0) < radius) & (np.abs(z0) < half_length) & (pt > 1e-9)
    safe_pt = np.where(pt > 1e-9, pt, 1.0)
    x, y, z = np.zeros_like(pt), np.zeros_like(pt), np.zeros_like(pt)
    curled = np.zeros(len(pt), dtype=bool)

    # path length in the transverse plane to the endcap, +inf when pz = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        s_endcap = np.where(pz != 0, (np.sign(pz) * half_length - z0) * safe_pt / pz, np.inf)

    neutral = (charge == 0) | (bz == 0)
    # straight lines: x0 + ux s on the circle of radius R, with (ux, uy) the unit transverse direction
    ux, uy = px / safe_pt, py / safe_pt
    b = x0 * ux + y0 * uy
    s_barrel = -b + np.sqrt(np.maximum(b**2 - (x0**2 + y0**2 - radius**2), 0.0))
    s = np.minimum(s_barrel, s_endcap)
    x = np.where(neutral, x0 + ux * s, x)
    y = np.where(neutral, y0 + uy * s, y)
    z = np.where(neutral, z0 + pz / safe_pt * s, z)

    # helices: signed radius r (positive charges turn clockwise seen from +z for B along +z)
    q = np.where(neutral, 1.0, charge)
    r = safe_pt / (q * (bz if bz != 0 else 1.0) * C_LIGHT)
    phi0 = np.arctan2(py, px)
    xc, yc = x0 + r * np.sin(phi0), y0 - r * np.cos(phi0)
    rc = np.hypot(xc, yc)
    abs_r = np.abs(r)
    # |P(s)|^2 = rc^2 + r^2 + 2 r rc sin(delta + s / r): solve for the first turning angle reaching R
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (radius**2 - rc**2 - r**2) / (2 * r * rc)
    reaches_barrel = np.abs(k) <= 1
    delta = np.arctan2(yc, xc) - phi0
    asin_k = np.arcsin(np.clip(k, -1, 1))
    sign = np.sign(r)
    turn = np.minimum(
        np.mod(sign * (asin_k - delta), 2 * np.pi), np.mod(sign * (np.pi - asin_k - delta), 2 * np.pi)
    )
    s_helix_barrel = np.where(reaches_barrel, abs_r * turn, np.inf)
    s_helix = np.minimum(s_helix_barrel, s_endcap)
    curls = ~neutral & ~reaches_barrel & (s_endcap > np.pi * abs_r)
    psi = phi0 - np.where(np.isfinite(s_helix), s_helix, 0.0) / r
    x = np.where(neutral, x, xc - r * np.sin(psi))
    y = np.where(neutral, y, yc + r * np.cos(psi))
    z = np.where(neutral, z, z0 + pz / safe_pt * np.where(np.isfinite(s_helix), s_helix, 0.0))
    curled = inside & curls

    rho = np.hypot(x, y)
    inside &= rho > 0
    eta = np.arcsinh(np.divide(z, rho, out=np.zeros_like(z), where=rho > 0))
    return CalorimeterHits(
        eta=eta, phi=np.arctan2(y, x), inside=inside, reached=inside & ~curled, curled=curled
    )
