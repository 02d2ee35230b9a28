"""Apply a trained tagger to new files: one output entry per input jet, in the input order.

Each input file is read ``chunk_size`` jets at a time by ingest's readers (JetClass-schema ROOT, other
branch names through a branch map, TopLandscape HDF5 or parquet) and completed by ingest's
``prepare_chunk`` (Delta eta / Delta phi, jet kinematics and substructure where a file lacks them); no
selection is applied and no label is needed. The model's inputs are then built as the build stage built
them for its training (:class:`jettag.predict.features.InputSpec`) and scored.

A jet the model cannot score keeps its place: its scores are :data:`SENTINEL`, its observers NaN, and its
``status`` says why (:data:`STATUS`); the summary counts such jets per reason. The output holds, per jet:
``entry`` (in its file) and ``file_index`` (in the list of inputs), ``status``, ``score_<label>`` for each
of the model's labels, the observers of the build stage (jet pT, eta, phi, mass, soft-drop mass) and the
inputs' own label branches (the JetClass ones and those of the model's classes, where every input has
them), so it can be used as a friend tree of the inputs.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from jettag import __version__
from jettag.artefact import TrainedBDT, TrainedTagger, load_trained
from jettag.ingest.errors import IngestError
from jettag.ingest.prepare import prepare_chunk
from jettag.ingest.readers import TOPLANDSCAPE_BACKGROUND, TOPLANDSCAPE_SIGNAL, flat_branches, iterate_file
from jettag.jetclass import BUILD_OBSERVERS, LABEL_BRANCHES, PID_BRANCHES
from jettag.predict.scoring import Scorer
from jettag.predict.writers import FORMATS, PredictionWriter
from jettag.progress import Progress
from jettag.settings import EvaluateSettings, IngestSettings, PredictSettings

__all__ = ["SENTINEL", "STATUS", "expand_inputs", "output_format", "predict_files"]

log = logging.getLogger(__name__)

#: the score of every class for a jet the model cannot score (scores are probabilities in [0, 1])
SENTINEL = -1.0
#: ``status`` values: 0 scored, else the reason the jet was not (ingest's names for the same checks)
STATUS = ("scored", "no_constituents", "non_finite")
#: a label set on every jet, so that ingest's prepare_chunk, which wants one, drops no jet for its label
_EVERY_JET = "_predict_every_jet"


def expand_inputs(patterns: Sequence[str | Path]) -> list[Path]:
    """The files of ``patterns`` (paths or globs), in the order given, each glob's matches sorted.

    A glob that matches nothing, or a file listed twice, is an error: the outputs follow the inputs' order,
    so the list must be what the user meant."""
    files: list[Path] = []
    for pattern in map(str, patterns):
        expanded = str(Path(pattern).expanduser())
        if glob.has_magic(expanded) and not Path(expanded).exists():
            # absolute patterns too, which Path.glob does not take
            matches = sorted(glob.glob(expanded))  # noqa: PTH207
            if not matches:
                raise ValueError(f"input '{pattern}' matches no file")
            files.extend(Path(match) for match in matches)
        else:
            files.append(Path(expanded))
    seen: set[Path] = set()
    for path in files:
        key = path.resolve()
        if key in seen:
            raise ValueError(f"{path}: listed twice in the inputs")
        seen.add(key)
    if not files:
        raise ValueError("no input files given")
    return files


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt``, or the format that ``path``'s suffix names (``.root`` or ``.parquet``)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r}; known: {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    for name, known in FORMATS.items():
        if suffix == known:
            return name
    raise ValueError(f"{path}: cannot tell the output format from '{suffix}'; use .root or .parquet")


def _model_labels(label_names: Sequence[str]) -> list[str]:
    """The label branches a model's classes may have come from (:func:`jettag.ingest.prepare.class_name`
    in reverse): ``Tbqq`` from ``label_Tbqq`` or ``Tbqq``, ``Wqq_or_Zqq`` from both of its parts."""
    parts = [part for name in label_names for part in name.split("_or_")]
    return [candidate for part in parts for candidate in (f"label_{part}", part)]


def _inspect(
    path: Path, tree: str, branch_map: Mapping[str, str], wanted: Sequence[str]
) -> tuple[list[str], int]:
    """The label branches of ``wanted`` that ``path`` has (TopLandscape files: its one flag, mapped) and
    its number of jets (0 for other formats, where that takes reading the file)."""
    if path.suffix.lower() != ".root":
        return [TOPLANDSCAPE_SIGNAL, TOPLANDSCAPE_BACKGROUND], 0
    try:
        with uproot.open(path) as file:
            keys, entries = file[tree].typenames(), file[tree].num_entries
    except Exception:  # the reader names the problem with this file when it reads it
        return [], 0
    flat = set(flat_branches(keys))
    return [label for label in wanted if branch_map.get(label, label) in flat], entries


def _label_dtype(name: str) -> np.dtype:
    """JetClass labels keep their dtype; a label of the user's own is written as float32."""
    return LABEL_BRANCHES.get(name, np.dtype(np.float32))


def _columns(scorer: Scorer, labels: list[str]) -> dict[str, np.dtype]:
    columns = {"entry": np.dtype(np.int64), "file_index": np.dtype(np.int32), "status": np.dtype(np.int8)}
    columns |= {f"score_{name}": np.dtype(np.float32) for name in scorer.label_names}
    columns |= {name: np.dtype(np.float32) for name in BUILD_OBSERVERS}
    columns |= {name: _label_dtype(name) for name in labels}
    return columns


def _score_chunk(
    scorer: Scorer, chunk: ak.Array, path: Path, selection: IngestSettings
) -> tuple[np.ndarray, np.ndarray, ak.Array, np.ndarray]:
    """``(status, scores, jets, kept)``: per jet of ``chunk`` its status and scores (sentinel unless
    scored), and the completed jets that were scored with their positions ``kept`` in the chunk."""
    n = len(chunk)
    flagged = ak.with_field(chunk, np.ones(n, np.int8), _EVERY_JET)
    jets, kept, dropped = prepare_chunk(flagged, [_EVERY_JET], [], selection)
    status = np.full(n, STATUS.index("non_finite"), np.int8)
    status[ak.to_numpy(ak.num(chunk["part_px"], axis=1)) == 0] = STATUS.index("no_constituents")
    status[kept] = 0
    expected = {reason: int((status == i).sum()) for i, reason in enumerate(STATUS) if i}
    if {k: v for k, v in dropped.items() if v} != {k: v for k, v in expected.items() if v}:
        raise RuntimeError(f"{path}: jets dropped {dropped} do not match the statuses {expected}")
    if scorer.spec.needs_pid and len(jets):
        absent = [name for name in PID_BRANCHES.values() if name not in ak.fields(chunk)]
        if absent:
            raise IngestError(
                path, f"the model reads particle-ID features, but the file lacks {', '.join(absent)}"
            )
    scores = np.full((n, len(scorer.label_names)), SENTINEL, np.float32)
    try:
        scores[kept] = scorer(jets)
    except ValueError as err:
        raise IngestError(path, f"cannot build or score the model's inputs: {err}") from None
    return status, scores, jets, kept


def predict_files(
    model: str | Path | TrainedTagger | TrainedBDT,
    inputs: Sequence[str | Path],
    output: str | Path,
    settings: PredictSettings | None = None,
    reading: IngestSettings | None = None,
    scoring: EvaluateSettings | None = None,
    summary: str | Path | None = None,
) -> dict[str, Any]:
    """Score every jet of ``inputs`` (paths or globs) with ``model`` (a training directory or a loaded
    model) and write them to ``output`` in order; return (and write to ``summary``) the counts.

    ``settings``: ``predict.chunk_size`` jets are read and scored at a time, and the output's format is its
    suffix's (else ``predict.format``); ``reading``: files are read with ingest's ``tree`` and
    ``branch_map``, and ``jet_r`` is the radius for substructure a file lacks (ingest's cuts are not
    applied: every jet gets a score or a status); ``scoring``: ``evaluate.batch_size`` jets go through the
    network at a time. Each is the schema's default when None.
    """
    settings = settings or PredictSettings.create()
    reading = reading or IngestSettings.create()
    scoring = scoring or EvaluateSettings.create()
    start = time.perf_counter()
    model = load_trained(model) if isinstance(model, str | Path) else model
    scorer = Scorer(model, scoring.batch_size)
    fmt = output_format(output, None if Path(output).suffix.lower() in FORMATS.values() else settings.format)
    chunk_size, branch_map, tree = settings.chunk_size, reading.branch_map, reading.tree
    files = expand_inputs(inputs)
    output = Path(output)
    if output.resolve() in {path.resolve() for path in files}:
        raise ValueError(f"{output}: the output would overwrite one of the inputs")
    # every jet is scored (or given a status): ingest's cuts do not apply, its substructure radius does
    selection = dataclasses.replace(reading, pt_min=None, pt_max=None, eta_max=None)
    wanted = list(dict.fromkeys([*LABEL_BRANCHES, *_model_labels(scorer.label_names)]))
    available, entries = zip(*(_inspect(path, tree, branch_map, wanted) for path in files), strict=True)
    labels = [label for label in wanted if all(label in names for names in available)]
    per_file = []
    known = all(path.suffix.lower() == ".root" for path in files)
    progress = Progress(log, f"predict {output.name}", sum(entries) if known else 0, "jets")
    with PredictionWriter(output, _columns(scorer, labels), fmt) as writer:
        for index, path in enumerate(files):
            counts = {"file": str(path), "jets": 0, "scored": 0, "unscored": dict.fromkeys(STATUS[1:], 0)}
            for entry_start, chunk in iterate_file(path, labels, chunk_size, branch_map, tree):
                status, scores, jets, kept = _score_chunk(scorer, chunk, path, selection)
                n = len(chunk)
                columns: dict[str, np.ndarray] = {
                    "entry": entry_start + np.arange(n, dtype=np.int64),
                    "file_index": np.full(n, index, np.int32),
                    "status": status,
                }
                for j, name in enumerate(scorer.label_names):
                    columns[f"score_{name}"] = scores[:, j]
                for name in BUILD_OBSERVERS:
                    columns[name] = np.full(n, np.nan, np.float32)
                    columns[name][kept] = ak.to_numpy(jets[name])
                for name in labels:
                    columns[name] = ak.to_numpy(chunk[name]).astype(_label_dtype(name))
                writer.write(columns)
                counts["jets"] += n
                counts["scored"] += len(kept)
                for i, reason in enumerate(STATUS[1:], start=1):
                    counts["unscored"][reason] += int((status == i).sum())
                progress.update(writer.n_written)
            per_file.append(counts)
    progress.update(writer.n_written, final=True)
    seconds = time.perf_counter() - start
    result = {
        "jettag_version": __version__,
        "model": {
            "directory": str(model.directory),
            "name": model.name,
            "data_kind": model.data_kind,
            "label_names": scorer.label_names,
        },
        "output": str(output),
        "format": fmt,
        "sentinel": SENTINEL,
        "status": {str(i): reason for i, reason in enumerate(STATUS)},
        "jets": sum(f["jets"] for f in per_file),
        "scored": sum(f["scored"] for f in per_file),
        "unscored": {reason: sum(f["unscored"][reason] for f in per_file) for reason in STATUS[1:]},
        "files": per_file,
        "seconds": round(seconds, 3),
        "jets_per_second": round(sum(f["jets"] for f in per_file) / max(seconds, 1e-9), 1),
    }
    if summary is not None:
        Path(summary).parent.mkdir(parents=True, exist_ok=True)
        Path(summary).write_text(json.dumps(result, indent=2) + "\n")
    return result
