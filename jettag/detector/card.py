"""Detector cards: YAML files of tables, read, checked and turned into arrays the detector looks values up in.

A card is data, never code: every efficiency and resolution is a table of (lo, hi] ranges in |eta| (and pT)
with the coefficients of a fixed functional form. Loading checks the card against
``jettag/schemas/detector.schema.yaml`` and then the things a schema cannot say (a table's rows tile their
box with no gap and no overlap, tower regions follow each other from |eta| = 0, a resolution covers the
towers, energy fractions add up to at most 1). Every problem names the file and the key.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

__all__ = [
    "BUILTIN_CARDS",
    "Calorimeter",
    "CardError",
    "DetectorCard",
    "Table",
    "TowerGrid",
    "card_path",
    "load_card",
]

#: cards shipped with jettag (``jettag/detector/cards/<name>.yaml``, also ``configs/detectors/``)
BUILTIN_CARDS = ("atlas", "cms")

#: the particle types with tracking tables of their own
TRACK_TYPES = ("charged_hadron", "electron", "muon")


class CardError(ValueError):
    """A detector card that jettag refuses: the message names the file, the key and the problem."""


def card_path(card: str | Path) -> Path:
    """The file of ``card``: a built-in card's name (``atlas``, ``cms``) or the path of a YAML file."""
    if str(card) in BUILTIN_CARDS:
        return Path(str(resources.files("jettag").joinpath(f"detector/cards/{card}.yaml")))
    path = Path(card)
    if not path.is_file():
        raise CardError(
            f"detector card '{card}': no such file, and not a built-in card ({', '.join(BUILTIN_CARDS)})"
        )
    return path


def _schema() -> dict[str, Any]:
    return yaml.safe_load(resources.files("jettag").joinpath("schemas/detector.schema.yaml").read_text())


def _key(path: Any) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in path).replace(".[", "[")


@dataclass(frozen=True)
class Table:
    """Values by (|eta|, pT) cell: rows tile a grid of ``eta_edges`` x ``pt_edges``; (lo, hi] ranges.

    ``coefficients[name][row]``; ``cell_row[i_eta, i_pt]`` is the row of each grid cell.
    """

    eta_edges: np.ndarray
    pt_edges: np.ndarray
    cell_row: np.ndarray
    coefficients: dict[str, np.ndarray]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], where: str, names: tuple[str, ...]) -> Table:
        """Check that ``rows`` tile their |eta| x pT box (a row without ``pt`` spans every pT)."""
        ranges = []
        for i, row in enumerate(rows):
            eta = tuple(float(v) for v in row["abs_eta"])
            pt = tuple(float(v) for v in row.get("pt", (0.0, math.inf)))
            for name, (lo, hi) in (("abs_eta", eta), ("pt", pt)):
                if not lo < hi:
                    raise CardError(
                        f"{where}[{i}].{name}: the range [{lo}, {hi}] is empty (lo must be below hi)"
                    )
            ranges.append((eta, pt))
        eta_edges = np.unique([v for eta, _ in ranges for v in eta])
        pt_edges = np.unique([v for _, pt in ranges for v in pt])
        cell_row = np.full((len(eta_edges) - 1, len(pt_edges) - 1), -1, dtype=np.int64)
        for i, ((elo, ehi), (plo, phi)) in enumerate(ranges):
            ei = slice(np.searchsorted(eta_edges, elo), np.searchsorted(eta_edges, ehi))
            pi = slice(np.searchsorted(pt_edges, plo), np.searchsorted(pt_edges, phi))
            taken = cell_row[ei, pi]
            if (taken >= 0).any():
                other = int(taken[taken >= 0][0])
                raise CardError(
                    f"{where}[{i}]: |eta| {list(ranges[i][0])} x pT {list(ranges[i][1])} "
                    f"overlaps row {other} "
                    f"(|eta| {list(ranges[other][0])} x pT {list(ranges[other][1])})"
                )
            cell_row[ei, pi] = i
        if (cell_row < 0).any():
            ie, ip = np.argwhere(cell_row < 0)[0]
            raise CardError(
                f"{where}: no row covers |eta| ({eta_edges[ie]}, {eta_edges[ie + 1]}] x "
                f"pT ({pt_edges[ip]}, {pt_edges[ip + 1]}]: the rows leave a gap"
            )
        coefficients = {name: np.array([float(row[name]) for row in rows]) for name in names}
        return cls(eta_edges, pt_edges, cell_row, coefficients)

    def rows(self, abs_eta: np.ndarray, pt: np.ndarray | None = None) -> np.ndarray:
        """Row index of each (|eta|, pT), -1 outside the table."""
        ie = np.searchsorted(self.eta_edges, abs_eta, side="left") - 1
        ie = np.where(abs_eta == self.eta_edges[0], 0, ie)
        inside = (ie >= 0) & (ie < len(self.eta_edges) - 1)
        if pt is None:
            ip = np.zeros_like(ie)
        else:
            ip = np.searchsorted(self.pt_edges, pt, side="left") - 1
            ip = np.where(pt == self.pt_edges[0], 0, ip)
            inside &= (ip >= 0) & (ip < len(self.pt_edges) - 1)
        return np.where(inside, self.cell_row[np.where(inside, ie, 0), np.where(inside, ip, 0)], -1)

    def value(self, name: str, rows: np.ndarray, outside: float = 0.0) -> np.ndarray:
        """Coefficient ``name`` of each row (``outside`` for -1)."""
        return np.where(rows >= 0, self.coefficients[name][rows.clip(0, None)], outside)


@dataclass(frozen=True)
class TowerGrid:
    """Calorimeter towers: signed eta edges, phi bins per eta ring, and the first tower id of each ring."""

    eta_edges: np.ndarray
    phi_bins: np.ndarray
    first_id: np.ndarray

    @classmethod
    def from_regions(cls, regions: list[dict[str, Any]], where: str) -> TowerGrid:
        edges: list[float] = [0.0]
        bins: list[int] = []
        for i, region in enumerate(regions):
            key = f"{where}[{i}]"
            if ("eta_edges" in region) == ("abs_eta" in region or "eta_step" in region):
                raise CardError(f"{key}: give either eta_edges, or abs_eta with eta_step")
            if "eta_edges" in region:
                ring = [float(v) for v in region["eta_edges"]]
            else:
                if "abs_eta" not in region or "eta_step" not in region:
                    raise CardError(f"{key}: abs_eta and eta_step go together")
                lo, hi = (float(v) for v in region["abs_eta"])
                n = (hi - lo) / float(region["eta_step"])
                if n < 0.5 or abs(n - round(n)) > 1e-6 * max(n, 1.0):
                    raise CardError(
                        f"{key}: abs_eta [{lo}, {hi}] is not a whole number of eta_step {region['eta_step']}"
                    )
                ring = list(np.linspace(lo, hi, round(n) + 1))
            if np.any(np.diff(ring) <= 0):
                raise CardError(f"{key}.eta_edges: edges must increase, got {ring}")
            if not math.isclose(ring[0], edges[-1], abs_tol=1e-9):
                kind = "a gap" if ring[0] > edges[-1] else "an overlap"
                raise CardError(
                    f"{key}: starts at |eta| = {ring[0]} where the towers before end at {edges[-1]} ({kind})"
                )
            edges += ring[1:]
            bins += [int(region["phi_bins"])] * (len(ring) - 1)
        positive = np.asarray(edges)
        signed = np.concatenate([-positive[:0:-1], positive])
        ring_bins = np.concatenate([bins[::-1], bins]).astype(np.int64)
        first = np.concatenate([[0], np.cumsum(ring_bins)[:-1]])
        return cls(signed, ring_bins, first)

    @property
    def abs_eta_max(self) -> float:
        return float(self.eta_edges[-1])

    @property
    def n_towers(self) -> int:
        return int(self.phi_bins.sum())

    def tower(self, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """Tower id of each (eta, phi); -1 outside the calorimeter."""
        ring = np.searchsorted(self.eta_edges, eta, side="left") - 1
        inside = (ring >= 0) & (ring < len(self.phi_bins))
        ring = ring.clip(0, len(self.phi_bins) - 1)
        n_phi = self.phi_bins[ring]
        cell = np.floor((phi + np.pi) / (2 * np.pi) * n_phi).astype(np.int64).clip(0, n_phi - 1)
        return np.where(inside, self.first_id[ring] + cell, -1)

    def edges(self, tower: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(eta_lo, eta_hi, phi_lo, phi_hi) of each tower id."""
        ring = np.searchsorted(self.first_id, tower, side="right") - 1
        n_phi = self.phi_bins[ring]
        cell = tower - self.first_id[ring]
        width = 2 * np.pi / n_phi
        phi_lo = -np.pi + cell * width
        return self.eta_edges[ring], self.eta_edges[ring + 1], phi_lo, phi_lo + width


@dataclass(frozen=True)
class Calorimeter:
    """One calorimeter: towers, resolution table, read-out thresholds."""

    name: str
    towers: TowerGrid
    resolution: Table
    energy_min: float
    significance_min: float
    smear_tower_center: bool

    def sigma(self, abs_eta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """sigma(E) = (s0 + s1 (|eta| - eta0)^2) sqrt((a E)^2 + b^2 E + c^2); 0 outside the table."""
        rows = self.resolution.rows(abs_eta)
        a, b, c, s0, s1, eta0 = (self.resolution.value(k, rows) for k in ("a", "b", "c", "s0", "s1", "eta0"))
        energy = np.maximum(energy, 0.0)
        return (s0 + s1 * (abs_eta - eta0) ** 2) * np.sqrt((a * energy) ** 2 + b**2 * energy + c**2)


@dataclass(frozen=True)
class DetectorCard:
    """A checked card, its file, and a hash of its contents (the same physics gives the same hash)."""

    name: str
    path: str
    sha256: str
    radius: float
    half_length: float
    bz: float
    efficiency: dict[str, Table]
    momentum_resolution: dict[str, Table]
    d0_resolution: Table
    dz_resolution: Table
    fraction_ids: np.ndarray
    fractions: np.ndarray
    default_fractions: np.ndarray
    ecal: Calorimeter
    hcal: Calorimeter

    def provenance(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "sha256": self.sha256}

    def energy_fractions(self, pdg: np.ndarray) -> np.ndarray:
        """(n, 2): the ECAL and HCAL share of each particle's energy, by |PDG id|."""
        ids = np.abs(pdg)
        pos = np.searchsorted(self.fraction_ids, ids).clip(0, max(len(self.fraction_ids) - 1, 0))
        listed = self.fraction_ids[pos] == ids if len(self.fraction_ids) else np.zeros(len(ids), bool)
        return np.where(listed[:, None], self.fractions[pos], self.default_fractions[None, :])


def _calorimeter(name: str, section: dict[str, Any], where: str) -> Calorimeter:
    towers = TowerGrid.from_regions(section["towers"], f"{where}.towers")
    rows = [
        {**row, **dict(zip(("s0", "s1", "eta0"), row.get("eta_scale", (1.0, 0.0, 0.0)), strict=True))}
        for row in section["resolution"]
    ]
    resolution = Table.from_rows(rows, f"{where}.resolution", ("a", "b", "c", "s0", "s1", "eta0"))
    if resolution.eta_edges[0] > 0 or resolution.eta_edges[-1] < towers.abs_eta_max - 1e-9:
        raise CardError(
            f"{where}.resolution: covers |eta| {resolution.eta_edges[0]} to {resolution.eta_edges[-1]}, "
            f"but the towers reach {towers.abs_eta_max}"
        )
    return Calorimeter(
        name,
        towers,
        resolution,
        float(section["energy_min"]),
        float(section["significance_min"]),
        bool(section.get("smear_tower_center", True)),
    )


def load_card(card: str | Path) -> DetectorCard:
    """Read and check a card (a built-in name or a file); :class:`CardError` names the file and the key."""
    path = card_path(card)
    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CardError(f"detector card {path}: not valid YAML ({err})") from None
    if not isinstance(content, dict):
        raise CardError(f"detector card {path}: expected a mapping of keys, got {type(content).__name__}")
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(content), key=lambda e: e.path)
    if errors:
        lines = [f"  {_key(e.absolute_path) or '<top level>'}: {e.message}" for e in errors]
        raise CardError(f"detector card {path}:\n" + "\n".join(lines))
    try:
        return _build(content, path)
    except CardError as err:
        raise CardError(f"detector card {path}: {err}") from None


def _build(content: dict[str, Any], path: Path) -> DetectorCard:
    tracking = content["tracking"]
    efficiency = {
        t: Table.from_rows(tracking["efficiency"][t], f"tracking.efficiency.{t}", ("value",))
        for t in TRACK_TYPES
    }
    resolution = {
        t: Table.from_rows(
            tracking["momentum_resolution"][t], f"tracking.momentum_resolution.{t}", ("a", "b")
        )
        for t in TRACK_TYPES
    }
    impact = {
        k: Table.from_rows(
            tracking["impact_parameter_resolution"][k],
            f"tracking.impact_parameter_resolution.{k}",
            ("a", "b"),
        )
        for k in ("d0", "dz")
    }
    for t in TRACK_TYPES:  # a track must have a resolution wherever it can be found
        eff, res = efficiency[t], resolution[t]
        for label, other in (
            ("momentum_resolution", res),
            *((f"impact_parameter_resolution.{k}", v) for k, v in impact.items()),
        ):
            if (
                other.eta_edges[0] > eff.eta_edges[0]
                or other.eta_edges[-1] < eff.eta_edges[-1]
                or (other.pt_edges[0] > eff.pt_edges[0] or other.pt_edges[-1] < eff.pt_edges[-1])
            ):
                raise CardError(
                    f"tracking.{label}{'.' + t if label == 'momentum_resolution' else ''}: covers |eta| "
                    f"({other.eta_edges[0]}, {other.eta_edges[-1]}] x "
                    f"pT ({other.pt_edges[0]}, {other.pt_edges[-1]}], "
                    f"less than tracking.efficiency.{t} (|eta| ({eff.eta_edges[0]}, {eff.eta_edges[-1]}] x "
                    f"pT ({eff.pt_edges[0]}, {eff.pt_edges[-1]}])"
                )

    fractions = content["energy_fractions"]
    default = fractions["default"]
    if default["ecal"] + default["hcal"] > 1 + 1e-9:
        raise CardError("energy_fractions.default: ecal + hcal is above 1")
    by_id: dict[int, tuple[float, float]] = {}
    for i, entry in enumerate(fractions["particles"]):
        if entry["ecal"] + entry["hcal"] > 1 + 1e-9:
            raise CardError(f"energy_fractions.particles[{i}]: ecal + hcal is above 1")
        for pdg in entry["pdg"]:
            if pdg in by_id:
                raise CardError(f"energy_fractions.particles[{i}]: PDG id {pdg} is listed twice")
            by_id[pdg] = (float(entry["ecal"]), float(entry["hcal"]))
    ids = np.array(sorted(by_id), dtype=np.int64)

    calos = content["calorimeters"]
    solenoid = content["solenoid"]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return DetectorCard(
        name=str(content["name"]),
        path=str(path),
        sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        radius=float(solenoid["radius"]),
        half_length=float(solenoid["half_length"]),
        bz=float(solenoid["bz"]),
        efficiency=efficiency,
        momentum_resolution=resolution,
        d0_resolution=impact["d0"],
        dz_resolution=impact["dz"],
        fraction_ids=ids,
        fractions=np.array([by_id[int(i)] for i in ids], dtype=float).reshape(-1, 2),
        default_fractions=np.array([default["ecal"], default["hcal"]], dtype=float),
        ecal=_calorimeter("ecal", calos["ecal"], "calorimeters.ecal"),
        hcal=_calorimeter("hcal", calos["hcal"], "calorimeters.hcal"),
    )
