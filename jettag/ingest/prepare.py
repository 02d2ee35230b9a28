"""Turn a raw chunk of jets into validated, complete jets: labels, drops by named reason, derived fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np
import vector

from jettag.jetclass import PID_BRANCHES
from jettag.particles import Particles
from jettag.substructure import n_subjettiness, soft_drop_mass

if TYPE_CHECKING:
    from jettag.settings import IngestSettings

__all__ = [
    "DROP_REASONS",
    "prepare_chunk",
]

#: every reason a jet can be dropped for, in the order they are checked (a jet counts under the first);
#: a NaN label is ``non_finite``, not ``unknown_label``: the file holds a broken number, not a missing class
DROP_REASONS = (
    "no_constituents",
    "non_finite",
    "unknown_label",
    "ambiguous_label",
    "outside_pt_window",
    "outside_eta",
)

_MOMENTA = ("part_px", "part_py", "part_pz", "part_energy")
_COMPONENTS = ("px", "py", "pz", "E")


#: the largest number a shard's float32 column holds; anything beyond it would be stored as inf
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _flat(values: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(values))


def _storable(values: np.ndarray) -> np.ndarray:
    """True where a number is finite and fits in float32 (NaN and inf compare False, and warn of nothing)."""
    values = np.asarray(values)
    if values.dtype.kind != "f":
        return np.ones(values.shape, dtype=bool)
    return np.abs(values) <= _FLOAT32_MAX


def _storable_jets(columns: Mapping[str, ak.Array | np.ndarray], n_jets: int) -> np.ndarray:
    """True for the jets whose every number in ``columns`` (one value per jet, or jagged per constituent)
    is finite and fits in float32: what is read and, after completion, what is computed alike."""
    ok = np.ones(n_jets, dtype=bool)
    for values in columns.values():
        if isinstance(values, ak.Array) and values.ndim > 1:
            bad = ~_storable(_flat(values))
            if bad.any():
                jet_of = np.repeat(np.arange(n_jets), ak.to_numpy(ak.num(values, axis=1)))
                ok[jet_of[bad]] = False
        else:
            ok &= _storable(ak.to_numpy(values) if isinstance(values, ak.Array) else values)
    return ok


def _sum_per_jet(flat: np.ndarray, counts: np.ndarray) -> np.ndarray:
    starts = np.cumsum(counts) - counts
    sums = (
        np.add.reduceat(flat, np.minimum(starts, max(len(flat) - 1, 0)))
        if len(flat)
        else np.zeros(len(counts))
    )
    return np.where(counts > 0, sums, 0.0)


def prepare_chunk(
    chunk: ak.Array,
    signal: Sequence[str],
    background: Sequence[str],
    selection: IngestSettings,
    multiclass: bool = False,
) -> tuple[ak.Array, np.ndarray, dict[str, int]]:
    """Validate and complete one chunk.

    Returns the kept jets (canonical fields and ``label``: 1 for signal and 0 for background, or with
    ``multiclass`` 0 for background and i+1 for ``signal[i]``), the index of each kept jet within the chunk,
    and the number of jets dropped for each reason of :data:`DROP_REASONS`. A jet with a signal and a
    background label, or with two signal labels in multi-class, is ``ambiguous_label``.

    ``non_finite`` is any number read (a momentum, a jet branch, a label: a NaN label is not an unknown
    one) that is NaN, infinite or beyond float32, and any derived number that comes out so: constituent
    sums beyond float32, a jet without transverse momentum (no direction), NaN substructure.
    """
    n = len(chunk)
    reason = np.full(n, -1)

    def drop(mask: np.ndarray, name: str) -> None:
        reason[(reason < 0) & mask] = DROP_REASONS.index(name)

    counts = ak.to_numpy(ak.num(chunk["part_px"]))
    drop(counts == 0, "no_constituents")
    drop(~_storable_jets({field: chunk[field] for field in chunk.fields}, n), "non_finite")

    # jet axis and kinematics: the file's own when present, else the sum of the constituents
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = {k: ak.values_astype(chunk[k], np.float64) for k in _MOMENTA}
        total = vector.array(
            {c: ak.to_numpy(ak.sum(p[k], axis=1)) for c, k in zip(_COMPONENTS, _MOMENTA, strict=True)}
        )
        jet = {
            "jet_pt": _field_or(chunk, "jet_pt", total.pt),
            "jet_eta": _field_or(chunk, "jet_eta", total.eta),
            "jet_phi": _field_or(chunk, "jet_phi", total.phi),
            "jet_energy": _field_or(chunk, "jet_energy", total.E),
            "jet_mass": total.mass,
        }
        axis_ok = _storable(total.eta) & _storable(total.phi)
    drop(~(axis_ok & np.logical_and.reduce([_storable(v) for v in jet.values()])), "non_finite")

    n_signal = np.zeros(n, dtype=np.int64)
    signal_class = np.zeros(n, dtype=np.int8)
    for i, label in enumerate(signal):
        hit = ak.to_numpy(chunk[label]) != 0
        n_signal += hit
        signal_class[hit] = i + 1
    is_signal = n_signal > 0
    is_background = np.zeros(n, dtype=bool)
    for label in background:
        is_background |= ak.to_numpy(chunk[label]) != 0
    drop(~is_signal & ~is_background, "unknown_label")
    drop(is_signal & is_background, "ambiguous_label")
    if multiclass:
        drop(n_signal > 1, "ambiguous_label")

    if selection.pt_min is not None or selection.pt_max is not None:
        lo = -np.inf if selection.pt_min is None else selection.pt_min
        hi = np.inf if selection.pt_max is None else selection.pt_max
        drop(~((jet["jet_pt"] >= lo) & (jet["jet_pt"] <= hi)), "outside_pt_window")
    if selection.eta_max is not None:
        drop(~(np.abs(jet["jet_eta"]) < selection.eta_max), "outside_eta")

    kept = np.flatnonzero(reason < 0)
    out = _complete(chunk[kept], {k: v[kept] for k, v in jet.items()}, selection.jet_r)
    # what the constituents give (Delta eta of a constituent along the beam, substructure) is checked too
    good = _storable_jets(out, len(kept))
    reason[kept[~good]] = DROP_REASONS.index("non_finite")
    kept = kept[good]
    dropped = {name: int((reason == i).sum()) for i, name in enumerate(DROP_REASONS)}
    out = {k: v[good] for k, v in out.items()}
    out["label"] = (signal_class if multiclass else is_signal)[kept].astype(np.int8)
    return ak.zip(out, depth_limit=1), kept, dropped


def _field_or(chunk: ak.Array, name: str, fallback: np.ndarray) -> np.ndarray:
    return ak.to_numpy(chunk[name]).astype(np.float64) if name in chunk.fields else fallback


def _complete(chunk: ak.Array, jet: dict[str, np.ndarray], jet_r: float) -> dict[str, ak.Array | np.ndarray]:
    """Canonical columns: momenta, Delta eta / Delta phi (JetClass convention), PID when present, jet
    kinematics and substructure (computed from the constituents when the file lacks them).

    Numpy's warnings are silenced here because what they warn of (a constituent along the beam, a
    substructure that divides by zero) gives NaN or inf, which the caller drops as ``non_finite``."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _complete_jets(chunk, jet, jet_r)


def _complete_jets(
    chunk: ak.Array, jet: dict[str, np.ndarray], jet_r: float
) -> dict[str, ak.Array | np.ndarray]:
    out: dict[str, ak.Array | np.ndarray] = {k: ak.values_astype(chunk[k], np.float32) for k in _MOMENTA}
    counts = ak.to_numpy(ak.num(chunk["part_px"]))
    if "part_deta" in chunk.fields and "part_dphi" in chunk.fields:
        out["part_deta"] = ak.values_astype(chunk["part_deta"], np.float32)
        out["part_dphi"] = ak.values_astype(chunk["part_dphi"], np.float32)
    else:
        flat = vector.array(
            {
                c: ak.to_numpy(ak.flatten(out[k])).astype(np.float64)
                for c, k in zip(_COMPONENTS, _MOMENTA, strict=True)
            }
        )
        jet_eta = np.repeat(jet["jet_eta"], counts)
        jet_phi = np.repeat(jet["jet_phi"], counts)
        deta = (flat.eta - jet_eta) * np.sign(jet_eta)
        dphi = (flat.phi - jet_phi + np.pi) % (2 * np.pi) - np.pi
        out["part_deta"] = ak.unflatten(deta.astype(np.float32), counts)
        out["part_dphi"] = ak.unflatten(dphi.astype(np.float32), counts)
    if all(name in chunk.fields for name in PID_BRANCHES.values()):
        out["part_charge"] = ak.values_astype(chunk["part_charge"], np.float32)
        for name in list(PID_BRANCHES.values())[1:]:
            out[name] = ak.values_astype(chunk[name] != 0, np.int8)
    for name, values in jet.items():
        out[name] = values.astype(np.float32)
    out["jet_nparticles"] = counts.astype(np.float32)
    have_substructure = all(f"jet_{k}" in chunk.fields for k in ("sdmass", "tau1", "tau2", "tau3", "tau4"))
    if have_substructure:
        for k in ("sdmass", "tau1", "tau2", "tau3", "tau4"):
            out[f"jet_{k}"] = ak.to_numpy(chunk[f"jet_{k}"]).astype(np.float32)
    elif len(chunk):
        particles = Particles(
            counts,
            {
                c: ak.to_numpy(ak.flatten(out[k])).astype(np.float64)
                for c, k in zip(_COMPONENTS, _MOMENTA, strict=True)
            },
        )
        out["jet_sdmass"] = soft_drop_mass(particles, jet_r).astype(np.float32)
        taus = n_subjettiness(particles, jet_r).astype(np.float32)
        for k in range(4):
            out[f"jet_tau{k + 1}"] = taus[:, k]
    else:
        for k in ("sdmass", "tau1", "tau2", "tau3", "tau4"):
            out[f"jet_{k}"] = np.empty(0, np.float32)
    return out
