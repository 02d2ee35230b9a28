"""Inference throughput of trained taggers on the CPU: PyTorch against ONNX Runtime, same batches, same run.

Each trained network (LSTM, GRU, RNN, CNN of a workflow run) is exported with `jettag.predict.export_onnx`;
the test split of the build stage is tiled to `--jets` jets and cut into the batches `jettag predict`
makes (sequences sorted by length, each batch padded to its own longest jet). The same prepared batches
are then scored by PyTorch (`TrainedTagger.scores`, no autograd) and by an ONNX Runtime session with the
same number of threads, alternating which goes first; jets/s is the median of `--repeat` passes. The
largest score difference between the two is reported beside the rates. Last, `jettag predict` end to end
(read the ROOT files, build the inputs, score with PyTorch, write the output) on the generated files, for
how much of a prediction the network itself takes.

    python benchmarks/inference.py --results results/smoke --jets 20000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import awkward as ak
import numpy as np
import onnxruntime as ort
import torch
import uproot

from jettag.artefact import TrainedTagger, load_tagger
from jettag.predict import export_onnx, predict_files
from jettag.settings import EvaluateSettings
from jettag.train.data import collate_images, collate_sequences, load_images, load_sequences


def batches(
    tagger: TrainedTagger, build: Path, n_jets: int, batch_size: int
) -> list[dict[str, torch.Tensor]]:
    """The test split tiled to ``n_jets`` jets, in the batches `jettag predict` scores."""
    if tagger.data_kind == "image":
        data = load_images(build / "test" / "images.arrow")
        index = np.resize(np.arange(len(data)), n_jets)
        return [
            collate_images([data[i] for i in index[start : start + batch_size]])
            for start in range(0, n_jets, batch_size)
        ]
    data = load_sequences(build / "test" / "sequences.arrow")
    index = np.resize(np.arange(len(data)), n_jets)
    index = index[np.argsort(data.lengths[index], kind="stable")]
    return [
        collate_sequences([data[i] for i in index[start : start + batch_size]])
        for start in range(0, n_jets, batch_size)
    ]


def tile_root(inputs: list[Path], n_jets: int, output: Path) -> Path:
    """A JetClass-schema ROOT file of ``n_jets`` jets: the jets of ``inputs``, repeated."""
    arrays = ak.concatenate([uproot.open(path)["tree"].arrays() for path in inputs])
    arrays = arrays[np.resize(np.arange(len(arrays)), n_jets)]
    columns = {name: arrays[name] for name in arrays.fields if name.startswith(("part_", "jet_", "label_"))}
    with uproot.recreate(output) as file:
        types = {
            name: v.type.content if v.ndim > 1 else v.type.content.primitive for name, v in columns.items()
        }
        file.mktree("tree", types).extend(
            {name: v if v.ndim > 1 else ak.to_numpy(v) for name, v in columns.items()}
        )
    return output


def rate(run: Callable[[dict[str, torch.Tensor]], np.ndarray], prepared: list[dict]) -> tuple[float, list]:
    """Jets per second of ``run`` over all ``prepared`` batches, and its outputs."""
    start = time.perf_counter()
    outputs = [run(batch) for batch in prepared]
    return sum(len(b["x"]) for b in prepared) / (time.perf_counter() - start), outputs


def compare(tagger: TrainedTagger, onnx_path: Path, prepared: list[dict], threads: int, repeat: int) -> dict:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feeds = [
        {"x": b["x"].numpy(), **({"lengths": b["lengths"].numpy()} if "lengths" in b else {})}
        for b in prepared
    ]
    feed_of = {id(b): f for b, f in zip(prepared, feeds, strict=True)}

    def onnx_scores(batch: dict) -> np.ndarray:
        return session.run(["scores"], feed_of[id(batch)])[0][:, 1]

    def torch_scores(batch: dict) -> np.ndarray:
        return tagger.scores({key: value for key, value in batch.items() if key != "label"})

    rates: dict[str, list[float]] = {"pytorch": [], "onnxruntime": []}
    outputs = {}
    rate(torch_scores, prepared[:2])  # warm-up: first calls allocate
    rate(onnx_scores, prepared[:2])
    for i in range(repeat):
        order = [("pytorch", torch_scores), ("onnxruntime", onnx_scores)]
        for name, run in order if i % 2 == 0 else order[::-1]:
            jets_per_s, outputs[name] = rate(run, prepared)
            rates[name].append(jets_per_s)
    difference = max(
        float(np.abs(a - b).max()) for a, b in zip(outputs["pytorch"], outputs["onnxruntime"], strict=True)
    )
    pytorch, onnx = statistics.median(rates["pytorch"]), statistics.median(rates["onnxruntime"])
    return {
        "pytorch_jets_per_s": round(pytorch, 1),
        "onnxruntime_jets_per_s": round(onnx, 1),
        "onnxruntime_over_pytorch": round(onnx / pytorch, 3),
        "max_abs_score_difference": difference,
        "batches": len(prepared),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--results", type=Path, default=Path("results/smoke"), help="a workflow's results")
    parser.add_argument("--models", nargs="+", default=["lstm", "gru", "rnn", "cnn"])
    parser.add_argument("--seed", type=int, default=1, help="which training of each model")
    parser.add_argument("--jets", type=int, default=20000, help="jets scored per pass (the test split tiled)")
    parser.add_argument(
        "--batch-size", type=int, default=1024, help="jets per batch (jettag predict's default)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/out/inference.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    build = args.results / "build"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            tagger = load_tagger(args.results / "train" / name / f"seed{args.seed}")
            onnx_path = Path(tmp) / f"{name}.onnx"
            export_onnx(tagger, onnx_path)
            prepared = batches(tagger, build, args.jets, args.batch_size)
            rows.append({"model": name, **compare(tagger, onnx_path, prepared, args.threads, args.repeat)})
        inputs = sorted((args.results / "generate").glob("*.root"))
        if inputs:
            tagger = load_tagger(args.results / "train" / args.models[0] / f"seed{args.seed}")
            tiled = tile_root(inputs, args.jets, Path(tmp) / "tiled.root")
            scoring = EvaluateSettings.create(batch_size=args.batch_size)
            result = predict_files(tagger, [tiled], Path(tmp) / "scores.root", scoring=scoring)
            end_to_end = {
                "model": args.models[0],
                "jets": result["jets"],
                "jets_per_s": result["jets_per_second"],
            }
        else:
            end_to_end = None

    print(
        f"CPU, {args.threads} thread(s), {args.jets} jets a pass in batches of {args.batch_size}, "
        f"median of {args.repeat}"
    )
    print(f"{'model':6} {'PyTorch jets/s':>15} {'ONNX RT jets/s':>15} {'ORT/PyTorch':>12} {'max |diff|':>11}")
    for r in rows:
        print(
            f"{r['model']:6} {r['pytorch_jets_per_s']:15.0f} {r['onnxruntime_jets_per_s']:15.0f} "
            f"{r['onnxruntime_over_pytorch']:12.2f} {r['max_abs_score_difference']:11.1e}"
        )
    if end_to_end:
        print(
            f"jettag predict end to end ({end_to_end['model']}, PyTorch, {end_to_end['jets']} jets of a ROOT "
            f"file): {end_to_end['jets_per_s']:.0f} jets/s"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    args.output.write_text(
        json.dumps({"settings": settings, "models": rows, "predict_end_to_end": end_to_end}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
