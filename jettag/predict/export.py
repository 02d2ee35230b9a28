"""Export a trained tagger to ONNX, with a feature spec that tells a C++ user how to build its inputs.

:func:`export_onnx` writes ``<name>.onnx`` and ``<name>.spec.json`` beside it:

- recurrent taggers (LSTM, GRU, RNN), the Particle Flow Network and ParticleNet take ``x`` float32
  ``[batch, length, n_features]`` (standardised constituent features, in the spec's order and ordering,
  zero after each jet's last constituent) and ``lengths`` int64 ``[batch]`` (real constituents per jet, 1
  to ``length``); batch size and sequence length are dynamic;
- the CNN takes ``x`` float32 ``[batch, 1, size, size]`` (the preprocessed jet images); batch size is
  dynamic;
- the BDT baseline takes ``x`` float32 ``[batch, n_features]``: the high-level features in the spec's
  order, as they are (no standardisation); NaN is allowed and takes each split's learned default branch;
- all give ``logits`` ``[batch, n_classes]`` (for the BDT its raw score: the log-odds of signal, or the
  softmax logits) and ``scores`` ``[batch, n_labels]``: class probabilities, one column per label (for a
  binary tagger ``(1 - p, p)``: background, signal), as ``jettag predict`` writes them.

The spec's ``inputs`` describe the features with :meth:`jettag.predict.features.InputSpec.describe`, whose
definitions come from one table for every model (:data:`jettag.predict.features.FEATURE_DEFINITIONS`).

ParticleNet's graph builds its points, features and mask from ``x`` and ``lengths`` as in PyTorch
(:class:`jettag.models.ParticleCloudTagger`), and always appends ``max(k) + 1`` padded positions, where
PyTorch pads only batches shorter than that: a constant shape rule, which traces, for a result that does
not depend on the padding. Its k-nearest-neighbour search (``torch.topk`` on the pairwise distances)
exports as ONNX ``TopK``, the neighbours' features as ``Gather``.

Unidirectional recurrent layers run over the padding, as in training: the state at a real position depends
on that and earlier positions only, and the read-out masks the rest. Bidirectional layers read each jet
reversed within its own length for the backward direction, which is what packing does.

The networks' graphs are traced with torch's TorchScript-based exporter (``dynamo=False``): with the pinned
torch it exports these networks in under a second, where the ``torch.export``-based one takes 30-60 s a
model on a laptop CPU and needs ``onnxscript``. Every export is checked: ONNX Runtime and PyTorch must agree
on two batches of different sizes and sequence lengths within :data:`TOLERANCE`.

The BDT's graph is built from its JSON trees by :mod:`jettag.predict.export_bdt`, whose docstring says how and
why, and checked against them within :data:`jettag.predict.export_bdt.BDT_TOLERANCE`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from jettag import __version__
from jettag.artefact import ArtefactError, TrainedBDT, TrainedTagger, load_trained, scores_from_logits
from jettag.models.cnn import ImageCNN
from jettag.models.particlenet import ParticleCloudTagger
from jettag.models.pfn import ParticleFlowNetwork
from jettag.models.recurrent import RecurrentTagger, reverse_padded
from jettag.predict.export_bdt import BDT_TOLERANCE, ML_OPSET, write_bdt_onnx
from jettag.predict.features import InputSpec

if TYPE_CHECKING:
    pass

__all__ = [
    "OPSET",
    "SPEC_FORMAT",
    "TOLERANCE",
    "export_onnx",
    "onnx_graph",
    "spec_path",
]

#: ONNX opset of the exported graphs
OPSET = 17
#: largest difference of scores between ONNX Runtime and PyTorch an export accepts
TOLERANCE = 1e-4
#: identifies the feature spec written beside the ONNX file
SPEC_FORMAT = {"name": "jettag-onnx-spec", "version": 1}


def spec_path(output: str | Path) -> Path:
    """Where the feature spec of the ONNX file ``output`` goes: ``<name>.spec.json`` beside it."""
    output = Path(output)
    return output.with_name(f"{output.stem}.spec.json")


def _binary_columns(logits: Tensor) -> Tensor:
    """Class probabilities with one column per label: ``(1 - p, p)`` for a single logit."""
    scores = scores_from_logits(logits)
    if scores.ndim == 1:
        return torch.stack([1.0 - scores, scores], dim=1)
    return scores


def _direction(layer: nn.RNNBase, suffix: str) -> nn.RNNBase:
    """A one-direction copy of a bidirectional one-layer ``layer`` (``suffix`` "" forward, "_reverse")."""
    extra = {"nonlinearity": layer.nonlinearity} if isinstance(layer, nn.RNN) else {}
    single = type(layer)(layer.input_size, layer.hidden_size, batch_first=True, **extra)
    with torch.no_grad():
        for name, param in single.named_parameters():
            param.copy_(getattr(layer, name + suffix))
    return single.eval()


class _SequenceGraph(nn.Module):
    """A :class:`RecurrentTagger` on padded ``x`` and ``lengths`` with no Python-side checks or packing,
    so that it traces into one graph for any batch size and sequence length."""

    def __init__(self, tagger: RecurrentTagger) -> None:
        super().__init__()
        self.tagger = tagger
        self.directions = nn.ModuleList(
            nn.ModuleList([_direction(layer, ""), _direction(layer, "_reverse")])
            for layer in (tagger.layers if tagger.bidirectional else [])
        )

    def _bidirectional(self, x: Tensor, lengths: Tensor, real: Tensor) -> Tensor:
        t = self.tagger
        time = torch.arange(x.shape[1], device=x.device)[None, :]
        # position t of a jet read backwards is its position length - 1 - t; padding stays where it is
        reverse = torch.where(real, lengths[:, None] - 1 - time, time)
        sequence = x if t.embedding is None else t.embedding(x)
        for i, (forward, backward) in enumerate(self.directions):
            inputs = sequence
            ahead, _ = forward(sequence)
            index = reverse[..., None].expand(-1, -1, sequence.shape[2])
            behind, _ = backward(torch.gather(sequence, 1, index))
            behind = torch.gather(behind, 1, reverse[..., None].expand(-1, -1, behind.shape[2]))
            sequence = torch.cat([ahead, behind], dim=2)
            if t.residual and i > 0:
                sequence = sequence + inputs
        return sequence

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        t = self.tagger
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        real = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        x = torch.where(real[..., None], x, zero)
        if t.reverse:
            x = reverse_padded(x, lengths)  # the tagger's own reversal
        if t.bidirectional:
            states = self._bidirectional(x, lengths, real)
        else:
            states = t.recur_padded(x)  # the tagger's own padded forward pass
        pooled, _ = t.read_out(states, lengths)  # the tagger's own read-out
        logits = t.head(pooled)
        return logits, _binary_columns(logits)


class _ImageGraph(nn.Module):
    """An :class:`ImageCNN` on ``[batch, 1, size, size]`` images, without its Python-side shape checks."""

    def __init__(self, cnn: ImageCNN) -> None:
        super().__init__()
        self.cnn = cnn

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.cnn.head(self.cnn.features(x))
        return logits, _binary_columns(logits)


def _real(x: Tensor, lengths: Tensor) -> Tensor:
    return torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]


class _SetGraph(nn.Module):
    """A :class:`ParticleFlowNetwork` on padded ``x`` and ``lengths``, without its Python-side checks."""

    def __init__(self, pfn: ParticleFlowNetwork) -> None:
        super().__init__()
        self.pfn = pfn

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.pfn.f(self.pfn.latent(x, _real(x, lengths)))
        return logits, _binary_columns(logits)


class _PointCloudGraph(nn.Module):
    """A :class:`ParticleCloudTagger` on padded ``x`` and ``lengths``: ``max(k) + 1`` padded positions
    appended whatever the length (see the module docstring), no Python-side checks."""

    def __init__(self, tagger: ParticleCloudTagger) -> None:
        super().__init__()
        self.tagger = tagger

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        t = self.tagger
        # zeros by concatenation: torch.nn.functional.pad exports with a reversed slice ONNX cannot fold
        x = torch.cat([x, torch.zeros_like(x[:, :1]).expand(-1, t.min_length, -1)], dim=1)
        logits = t.particlenet(*t.particlenet_inputs(x, _real(x, lengths)))
        return logits, _binary_columns(logits)


def onnx_graph(tagger: TrainedTagger) -> nn.Module:
    """The module that is exported for ``tagger`` (eval mode): inputs as in the module docstring, outputs
    ``(logits, scores)``."""
    network = tagger.network
    if isinstance(network, RecurrentTagger):
        return _SequenceGraph(network).eval()
    if isinstance(network, ImageCNN):
        return _ImageGraph(network).eval()
    if isinstance(network, ParticleFlowNetwork):
        return _SetGraph(network).eval()
    if isinstance(network, ParticleCloudTagger):
        return _PointCloudGraph(network).eval()
    raise ArtefactError(f"{tagger.directory}: cannot export a {type(network).__name__} to ONNX")


def _example_inputs(tagger: TrainedTagger, batch: int, length: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs of the shapes the model takes: standard-normal features (the standardised range) with lengths
    from 1 to ``length``, or non-negative images of unit sum."""
    rng = np.random.default_rng(seed)
    if tagger.data_kind == "sequence":
        lengths = rng.integers(1, length + 1, batch)
        lengths[0], lengths[-1] = length, 1
        x = rng.standard_normal((batch, length, tagger.artefact["n_features"])).astype(np.float32)
        x[np.arange(length)[None, :] >= lengths[:, None]] = 0.0
        return {"x": x, "lengths": lengths.astype(np.int64)}
    size = tagger.artefact["image_size"]
    images = rng.exponential(size=(batch, 1, size, size)).astype(np.float32)
    return {"x": images / images.sum(axis=(2, 3), keepdims=True)}


def _check_onnx(path: Path, graph: nn.Module, tagger: TrainedTagger) -> float:
    """Largest difference between ONNX Runtime's and PyTorch's scores on two differently shaped batches."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch, length, seed in ((7, 23, 1), (2, 64, 2)):
        inputs = _example_inputs(tagger, batch, length, seed)
        with torch.no_grad():
            _, expected = graph(*(torch.from_numpy(value) for value in inputs.values()))
            reference = tagger.scores({name: torch.from_numpy(value) for name, value in inputs.items()})
        expected = expected.numpy()
        (scores,) = session.run(["scores"], inputs)
        columns = expected if reference.ndim > 1 else expected[:, 1]
        worst = max(worst, float(np.abs(columns - reference).max()), float(np.abs(scores - expected).max()))
    return worst


def _write_network(tagger: TrainedTagger, path: Path, opset: int) -> float:
    graph = onnx_graph(tagger)
    example = {name: torch.from_numpy(value) for name, value in _example_inputs(tagger, 3, 5, 0).items()}
    dynamic = {"x": {0: "batch"}, "logits": {0: "batch"}, "scores": {0: "batch"}}
    if tagger.data_kind == "sequence":
        dynamic |= {"x": {0: "batch", 1: "length"}, "lengths": {0: "batch"}}
    with warnings.catch_warnings():
        # the TorchScript-based exporter is deprecated in favour of one this project does not use (see
        # the module docstring); the tracer warns about torch's own RNN input checks (Python bools on
        # shapes) and that LSTM initial states are batch-sized, which ONNX's LSTM takes as optional
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"Exporting a model to ONNX with a batch_size other")
        torch.onnx.export(
            graph,
            tuple(example.values()),
            str(path),
            input_names=list(example),
            output_names=["logits", "scores"],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    return _check_onnx(path, graph, tagger)


def _onnx_inputs(model: TrainedTagger | TrainedBDT, inputs: InputSpec) -> list[dict[str, Any]]:
    if inputs.kind == "highlevel":
        return [
            {
                "name": "x",
                "dtype": "float32",
                "shape": ["batch", len(inputs.features)],
                "content": "the high-level features, in 'features' order, not standardised; NaN takes each "
                "split's default branch (as in training)",
            }
        ]
    if inputs.kind == "sequence":
        return [
            {
                "name": "x",
                "dtype": "float32",
                "shape": ["batch", "length", len(inputs.features)],
                "content": "standardised constituent features, in 'features' order; 0 after a jet's last "
                "constituent",
            },
            {
                "name": "lengths",
                "dtype": "int64",
                "shape": ["batch"],
                "content": "constituents per jet, min(n, max_length), at least 1: a jet without "
                "constituents cannot be scored",
            },
        ]
    size = model.artefact["image_size"]
    return [
        {
            "name": "x",
            "dtype": "float32",
            "shape": ["batch", 1, size, size],
            "content": "jet images, axis 2 = delta eta (rows), axis 3 = delta phi (columns)",
        }
    ]


def _spec(model: TrainedTagger | TrainedBDT, inputs: InputSpec, onnx_file: str, opset: int) -> dict[str, Any]:
    """The feature spec: one layout for every model, the BDT adding the ONNX-ML opset it uses."""
    n_classes = model.artefact["n_classes"] if isinstance(model, TrainedTagger) else model.model.n_classes
    bdt = isinstance(model, TrainedBDT)
    logits = "raw score of the trees: log-odds of signal, or softmax logits" if bdt else "network output"
    return {
        "format": SPEC_FORMAT,
        "jettag_version": __version__,
        "model": {
            "name": model.name,
            "data_kind": model.data_kind,
            "directory": str(model.directory),
            "trained_with": model.artefact.get("jettag_version"),
        },
        "onnx": {
            "file": onnx_file,
            "opset": opset,
            **({"ml_opset": ML_OPSET} if bdt else {}),
            "inputs": _onnx_inputs(model, inputs),
            "outputs": [
                {"name": "logits", "dtype": "float32", "shape": ["batch", n_classes], "content": logits},
                {
                    "name": "scores",
                    "dtype": "float32",
                    "shape": ["batch", len(model.label_names)],
                    "columns": model.label_names,
                    "content": "class probabilities (sigmoid of the logit for a binary tagger, else softmax)",
                },
            ],
        },
        "labels": model.label_names,
        "inputs": inputs.describe(),
    }


def export_onnx(
    model: str | Path | TrainedTagger | TrainedBDT, output: str | Path | None = None, opset: int = OPSET
) -> dict[str, Any]:
    """Write ``model`` (a training directory, a loaded network tagger or the BDT baseline) as ONNX to
    ``output`` (default ``<training directory>/model.onnx``) and its feature spec beside it; return the spec,
    with the largest difference between ONNX Runtime and the model (PyTorch, or the BDT's JSON trees) found
    by the export's check under ``check``."""
    trained = load_trained(model) if isinstance(model, str | Path) else model
    output = Path(output) if output is not None else trained.directory / "model.onnx"
    inputs = InputSpec.of(trained)
    bdt = isinstance(trained, TrainedBDT)
    tolerance, reference = (BDT_TOLERANCE, "the JSON trees") if bdt else (TOLERANCE, "PyTorch")
    try:
        spec = _spec(trained, inputs, output.name, opset)  # before writing: it refuses undefined features
    except ArtefactError as err:
        raise ArtefactError(f"{trained.directory}: {err}") from None
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    try:
        difference = (
            write_bdt_onnx(trained, partial, opset) if bdt else _write_network(trained, partial, opset)
        )
        if not difference < tolerance:
            raise RuntimeError(
                f"{output}: ONNX Runtime and {reference} differ by {difference:.3g} (tolerance {tolerance})"
            )
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    spec["check"] = {"max_abs_difference": difference, "tolerance": tolerance, "reference": reference}
    spec_path(output).write_text(json.dumps(spec, indent=2) + "\n")
    return spec
