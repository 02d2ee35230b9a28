"""Training throughput of the LSTM and GRU taggers on this machine's device (a CUDA GPU with cuDNN where
there is one, else the CPU): padded against packed batches, float32 against bf16-mixed, side by side.

Each of the eight combinations (configs/models/lstm.yaml and gru.yaml; padded or packed; ``32-true`` or
``bf16-mixed``) is a real Lightning fit of ``--warmup`` + ``--steps`` training steps, the way `jettag train`
runs it: the build directory's training split through its data module (``JetDataModule.from_settings``:
streamed, length-bucketed, the schema's batch size), :class:`jettag.train.TaggerModule` with the schema's
optimiser and gradient clipping, and the precision and cuDNN flags of
:func:`jettag.train.accelerator_plan`. Padded: the tagger reads the batch as it comes (unidirectional
taggers run over the padding, ``RecurrentTagger.recur_padded``); packed: the same batch as a
``PackedSequence``. jets/s counts the steps after the warm-up, data loading included, between two
synchronisations with the device; the median of ``--repeats`` fits, the combinations interleaved.

Before timing, the first training batch goes through a fresh tagger of each model (the same seed, eval
mode so that no dropout mask depends on the layout) padded and packed under each precision: the two
losses must agree, and the dtypes that the embedding, the recurrent layers and the head put out are the
precision path the fits ran.

    python -m benchmarks.gpu_throughput --build-dir results/build --steps 20 --output out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from benchmarks.training_throughput import fit, tagger_module
from jettag.features.sequences import pack
from jettag.models import build_model, load_model_config
from jettag.settings import TrainSettings
from jettag.train import AcceleratorPlan, JetDataModule, accelerator_plan

MODELS = ("lstm", "gru")
LAYOUTS = ("padded", "packed")
PRECISIONS = ("32-true", "bf16-mixed")
#: the combination every other is compared with
BASELINE = ("padded", "32-true")
SEED = 1


class Packed(nn.Module):
    """A recurrent tagger fed each batch as a ``PackedSequence`` (its packed path)."""

    def __init__(self, tagger: nn.Module) -> None:
        super().__init__()
        self.tagger = tagger

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        logits: Tensor = self.tagger(pack(x, lengths))
        return logits


class Clock(Callback):
    """Wall time and jets of the training steps after the first ``warmup``, synchronised with the device at
    both ends (CUDA runs asynchronously: without it the clock would stop before the GPU has finished)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.steps = 0
        self.jets = 0
        self.start = self.stop = 0.0

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.steps += 1
        if self.steps > self.warmup:
            self.jets += len(batch["label"])
        if self.steps == self.warmup or self.steps == trainer.max_steps:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize(pl_module.device)
            if self.steps == self.warmup:
                self.start = time.perf_counter()
            else:
                self.stop = time.perf_counter()

    @property
    def jets_per_second(self) -> float:
        return self.jets / (self.stop - self.start)


def forward_context(plan: AcceleratorPlan) -> contextlib.AbstractContextManager[Any]:
    """Autocast as Lightning's precision plugin enters it around every training step."""
    if plan.precision == "bf16-mixed":
        return MixedPrecision("bf16-mixed", plan.device).forward_context()
    return contextlib.nullcontext()


def environment(plan: AcceleratorPlan) -> dict[str, Any]:
    """Which device, torch, Lightning and cuDNN ran."""
    cuda = plan.device == "cuda"
    return {
        "device": plan.device,
        "device_name": torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine()),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cudnn_enabled": plan.cudnn,
        "cudnn_benchmark": plan.cudnn_benchmark,
        "bf16_supported": torch.cuda.is_bf16_supported() if cuda else True,
        "threads": torch.get_num_threads(),
    }


def data_module(build: Path, settings: TrainSettings) -> JetDataModule:
    return JetDataModule.from_settings("sequence", build, settings, SEED)


def first_batch_check(spec: dict, data: JetDataModule, plan: AcceleratorPlan) -> dict[str, Any]:
    """The loss of the first training batch through a fresh tagger (seed ``SEED``, eval mode), padded and
    packed, under ``plan``'s precision, and the dtypes its embedding, recurrent layers and head put out."""
    batch = next(iter(data.train_dataloader()))
    device = torch.device(plan.device)
    x, lengths, labels = batch["x"].to(device), batch["lengths"], batch["label"].to(device)
    torch.manual_seed(SEED)
    tagger = build_model(spec, data.n_features, 1).to(device).eval()
    dtypes: dict[str, set[str]] = {"embedding": set(), "recurrent": set(), "head": set()}

    def recorder(part: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, tuple) else output
            tensor = tensor.data if isinstance(tensor, PackedSequence) else tensor
            dtypes[part].add(str(tensor.dtype).removeprefix("torch."))

        return hook

    parts = {"embedding": [tagger.embedding], "recurrent": list(tagger.layers), "head": [tagger.head]}
    hooks = [
        m.register_forward_hook(recorder(part)) for part, ms in parts.items() for m in ms if m is not None
    ]
    losses = {}
    with torch.no_grad(), plan.backend(), forward_context(plan):
        for layout in LAYOUTS:
            logits = tagger(x, lengths) if layout == "padded" else tagger(pack(x, lengths))
            losses[layout] = nn.functional.binary_cross_entropy_with_logits(
                logits[:, 0].float(), labels
            ).item()
    for hook in hooks:
        hook.remove()
    return {"losses": losses, "dtypes": {part: "/".join(sorted(d)) for part, d in dtypes.items() if d}}


def jets_per_second(
    spec: dict,
    layout: str,
    plan: AcceleratorPlan,
    build: Path,
    settings: TrainSettings,
    warmup: int,
    steps: int,
) -> float:
    """jets/s of one Lightning fit of ``warmup + steps`` steps (see the module docstring)."""
    data = data_module(build, settings)
    data.setup("fit")
    lightning.seed_everything(SEED, verbose=False)
    tagger = build_model(spec, data.n_features, 1)
    module = tagger_module(tagger if layout == "padded" else Packed(tagger), spec)
    clock = Clock(warmup)
    with plan.backend():
        fit(
            module,
            data,
            accelerator="gpu" if plan.device == "cuda" else "cpu",
            devices=1,
            precision=plan.precision,
            deterministic=plan.deterministic,
            gradient_clip_val=settings.gradient_clip_val,
            max_steps=warmup + steps,
            max_epochs=-1,
            callbacks=[clock],
        )
    return clock.jets_per_second


def run(
    build: Path,
    *,
    models: tuple[str, ...] = MODELS,
    model_dir: Path = Path("configs/models"),
    accelerator: str = "auto",
    batch_size: int | None = None,
    num_workers: int | None = None,
    warmup: int = 3,
    steps: int = 20,
    repeats: int = 3,
) -> dict[str, Any]:
    """Measure every combination (see the module docstring); returns what ``--output`` writes."""
    if warmup < 1 or steps < 1 or repeats < 1:
        raise ValueError(f"warmup, steps and repeats must be at least 1, got {warmup}, {steps}, {repeats}")
    given = {"batch_size": batch_size, "num_workers": num_workers}
    settings = TrainSettings.create(**{key: value for key, value in given.items() if value is not None})
    plans = {precision: accelerator_plan(accelerator, precision, "sequence") for precision in PRECISIONS}
    baseline_plan = plans[BASELINE[1]]
    skipped = {}
    if baseline_plan.device == "cuda" and not torch.cuda.is_bf16_supported():
        skipped["bf16-mixed"] = f"{torch.cuda.get_device_name()} does not support bfloat16"
        del plans["bf16-mixed"]
    specs = {name: load_model_config(model_dir / f"{name}.yaml") for name in models}
    checks = {
        (name, precision): first_batch_check(spec, data_module(build, settings), plan)
        for name, spec in specs.items()
        for precision, plan in plans.items()
    }
    combinations = [(m, layout, p) for m in specs for p in plans for layout in LAYOUTS]
    runs: dict[tuple[str, str, str], list[float]] = {c: [] for c in combinations}
    for repeat in range(repeats):
        shift = repeat % len(combinations)  # each repeat starts elsewhere: no combination always goes first
        for name, layout, precision in combinations[shift:] + combinations[:shift]:
            runs[name, layout, precision].append(
                jets_per_second(specs[name], layout, plans[precision], build, settings, warmup, steps)
            )
    rows = []
    for name, layout, precision in combinations:
        rate = statistics.median(runs[name, layout, precision])
        check = checks[name, precision]
        rows.append(
            {
                "model": name,
                "layout": layout,
                "precision": precision,
                "jets_per_s": round(rate, 1),
                "runs_jets_per_s": [round(r, 1) for r in runs[name, layout, precision]],
                "vs_padded_fp32": round(rate / statistics.median(runs[(name, *BASELINE)]), 3),
                "first_batch_loss": check["losses"][layout],
                "padded_packed_loss_difference": abs(check["losses"]["padded"] - check["losses"]["packed"]),
                "dtypes": check["dtypes"],
            }
        )
    data = data_module(build, settings)
    data.setup("fit")
    return {
        "environment": environment(baseline_plan),
        "plans": {precision: plan.to_dict() for precision, plan in plans.items()},
        "skipped": skipped,
        "settings": {
            "build_dir": str(build),
            "train_jets": data.layouts["train"].n_jets,
            "features": data.n_features,
            "batch_size": settings.batch_size,
            "num_workers": settings.num_workers,
            "bucket": settings.bucket,
            "streaming": settings.streaming,
            "warmup": warmup,
            "steps": steps,
            "repeats": repeats,
        },
        "rows": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    """The results as a Markdown table, with the device and precision path above it."""
    env, settings = result["environment"], result["settings"]
    lines = [
        f"device: {env['device']} ({env['device_name']}), torch {env['torch']}, Lightning "
        f"{env['lightning']}, CUDA {env['cuda'] or '-'}, cuDNN {env['cudnn'] or '-'} "
        f"(enabled {env['cudnn_enabled']}, benchmark {env['cudnn_benchmark']}), {env['threads']} threads",
        f"{settings['train_jets']} training jets, {settings['features']} features, "
        f"batch {settings['batch_size']}, {settings['num_workers']} workers, "
        f"{settings['warmup']} + {settings['steps']} steps, median of {settings['repeats']}",
    ]
    lines += [f"{precision} not measured: {why}" for precision, why in result["skipped"].items()]
    lines += [
        "",
        "| model | input | precision | jets/s | vs padded fp32 | first-batch loss | embedding / RNN / head |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        path = " / ".join(r["dtypes"].get(part, "-") for part in ("embedding", "recurrent", "head"))
        lines.append(
            f"| {r['model']} | {r['layout']} | {r['precision']} | {r['jets_per_s']:.0f} | "
            f"{r['vs_padded_fp32']:.2f} | {r['first_batch_loss']:.5f} | {path} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build-dir", type=Path, default=Path("results/build"))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "gpu", "cuda"))
    parser.add_argument("--batch-size", type=int, help="default: the schema's train.batch_size")
    parser.add_argument("--num-workers", type=int, help="default: the schema's train.num_workers")
    parser.add_argument("--warmup", type=int, default=3, help="steps of each fit before the clock starts")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of each fit")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/out/gpu_throughput.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in ("lightning.pytorch", "lightning.fabric"):  # not a banner for each of the 24 fits
        logging.getLogger(name).setLevel(logging.WARNING)
    result = run(
        args.build_dir,
        models=tuple(args.models),
        accelerator=args.accelerator,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        warmup=args.warmup,
        steps=args.steps,
        repeats=args.repeats,
    )
    print(markdown(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
