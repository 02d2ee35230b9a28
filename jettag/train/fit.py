"""Train one tagger end to end: seed, build, fit (resuming where a run stopped), and write the artefact.

:func:`train_model` writes into ``output_dir``:

- ``best.ckpt`` and ``last.ckpt``: Lightning checkpoints (lowest ``val/loss``; end of the latest epoch).
  When ``last.ckpt`` exists, a new call resumes from it instead of starting over.
- ``logs/version_<n>/metrics.csv``: the CSV log of each call (TensorBoard too, where it is installed).
- ``model.pt``: the best network's ``state_dict`` only (tensors; ``torch.load(..., weights_only=True)``).
- ``artefact.json``: everything needed to use the model later (see :data:`ARTEFACT_KEYS`).
- ``gradient_reach.json`` (recurrent models): per validation epoch, the mean input-gradient norm at each
  sequence position of one fixed validation batch.

Several devices (``strategy="ddp"``): every rank trains on its own part of the training split (the data
module deals it out, so Lightning's distributed sampler stays off) and takes the same number of steps;
DDP averages the gradients, so a step sees ``devices x batch_size`` jets. Each rank validates its own
part of the validation split and :class:`jettag.train.TaggerModule` gathers the scores, so the metrics,
early stopping and the best checkpoint are those of the whole split and agree on every rank. Only global
rank 0 writes: checkpoints (Lightning's), logs, ``model.pt``, ``artefact.json``, ``gradient_reach.json``.
``output_dir`` must be on a file system every rank sees: each rank resumes from ``last.ckpt``.

On CPUs, ``accelerator="cpu", devices=N, strategy="ddp"`` starts N processes (the command is run again
for ranks 1..N-1) that talk over gloo. On a Slurm cluster Lightning takes the ranks from Slurm
(``SLURMEnvironment``) instead: one task per GPU, each started by ``srun``, with ``devices`` = GPUs per
node = ``--ntasks-per-node`` and ``num_nodes`` = ``--nodes`` (Lightning refuses a mismatch)::

    #SBATCH --nodes=2
    #SBATCH --ntasks-per-node=4        # one task per GPU: = devices
    #SBATCH --gres=gpu:4               # GPUs per node
    #SBATCH --cpus-per-task=5          # data-loader workers + 1
    srun jettag train ... --accelerator gpu --devices 4 --num-nodes 2 --strategy ddp --num-workers 4

(``train_model(num_nodes=2, ...)`` from Python.) Without ``srun`` Lightning starts its own processes
inside a single Slurm task and the ranks of other nodes never join. NCCL is the backend between GPUs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from jettag import __version__
from jettag.artefact import FORMAT
from jettag.build.sequences import Standardisation
from jettag.jetclass import BINARY_LABEL_NAMES
from jettag.models.config import build_model, n_parameters, validate_model_config
from jettag.train.data import JetDataModule
from jettag.train.module import TaggerModule

log = logging.getLogger(__name__)

__all__ = ["ARTEFACT_KEYS", "default_precision", "train_model"]

#: the keys of ``artefact.json``
ARTEFACT_KEYS = (
    "format",
    "jettag_version",
    "model",
    "data_kind",
    "n_features",
    "image_size",
    "n_classes",
    "label_names",
    "features",
    "standardisation",
    "build",
    "n_parameters",
    "training",
    "seed",
    "epochs_trained",
    "global_step",
    "best_epoch",
    "best",
    "train_seconds",
    "files",
)

_DATA_KIND = {"recurrent": "sequence", "cnn": "image", "pfn": "sequence", "particlenet": "sequence"}


def _uses_cuda(accelerator: str) -> bool:
    return accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()


def default_precision(accelerator: str = "auto") -> str:
    """``"bf16-mixed"`` on a CUDA GPU that supports bfloat16, else ``"32-true"``."""
    if _uses_cuda(accelerator) and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def _loggers(output_dir: Path) -> list[Logger]:
    loggers: list[Logger] = [CSVLogger(output_dir, name="logs")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        loggers.append(TensorBoardLogger(output_dir, name="tensorboard"))
    return loggers


def _best_state_dict(checkpoint_path: Path) -> dict[str, torch.Tensor]:
    """The network's tensors from a Lightning checkpoint of :class:`TaggerModule`."""
    # our own checkpoint, written by this run: it also holds optimiser and loop state, not only tensors
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    prefix = "network."
    return {
        key.removeprefix(prefix): value.clone()
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(prefix)
    }


class EpochLines(Callback):
    """One plain log line per epoch (for batch jobs, where a progress bar only fills the log)."""

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # runs after the epoch's validation, whose metrics the module keeps in its history
        if not trainer.is_global_zero:
            return
        latest = pl_module.history[-1] if getattr(pl_module, "history", None) else {}
        train_loss = trainer.callback_metrics.get("train/loss")
        shown = [f"train/loss {float(train_loss):.4f}"] if train_loss is not None else []
        shown += [f"{name} {latest[name]:.4f}" for name in ("val/loss", "val/auc") if name in latest]
        seconds = time.perf_counter() - getattr(self, "_start", time.perf_counter())
        log.info(
            "epoch %d/%d: %s, %.1f s",
            trainer.current_epoch + 1,
            trainer.max_epochs,
            ", ".join(shown),
            seconds,
        )


def train_model(
    model_config: dict[str, Any],
    data: JetDataModule,
    output_dir: str | Path,
    seed: int = 0,
    max_epochs: int = 20,
    accelerator: str = "auto",
    devices: int | str | Sequence[int] = "auto",
    strategy: str = "auto",
    num_nodes: int = 1,
    precision: str | int | None = None,
    gradient_clip_val: float | None = 1.0,
    patience: int = 5,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    schedule: str = "cosine",
    n_classes: int = 1,
    label_names: Sequence[str] = BINARY_LABEL_NAMES,
    standardisation: str | Path | None = None,
    build_info: dict[str, Any] | None = None,
    log_every_n_steps: int = 10,
    deterministic: bool | None = None,
) -> dict[str, Any]:
    """Train the tagger ``model_config`` describes on ``data``; return the best validation metrics.

    Seeds everything with ``seed`` (data-loader workers included); on CPU the run is also deterministic
    (``deterministic=None`` means: deterministic on CPU, not on GPUs, where it would refuse cuDNN's RNNs),
    so the same seed gives the same metrics. ``precision`` None means :func:`default_precision`.
    Early stopping watches ``val/loss`` with ``patience`` epochs. If ``output_dir/last.ckpt`` exists the
    run resumes from it (optimiser, schedule, epoch, early stopping and best checkpoint included) and trains
    up to ``max_epochs`` in all.

    ``standardisation`` (the build stage's JSON) and ``build_info`` (e.g. ``ordering``, ``max_length``,
    the image spec) are copied into ``artefact.json`` so the inputs can be rebuilt for inference.
    ``label_names`` name the classes by label value (binary: 0 background, 1 signal).

    Returns ``{"val/loss", "val/accuracy", "val/auc", "best_epoch", "epochs_trained", "global_step",
    "train_seconds", "resumed"}``, the validation metrics being those of the best epoch.
    """
    label_names = list(label_names)
    if len(label_names) != (2 if n_classes == 1 else n_classes):
        raise ValueError(
            f"label_names {label_names} do not name the classes of n_classes={n_classes} "
            "(1: binary, background and signal)"
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    spec = validate_model_config(model_config, source=f"model {model_config.get('name', '?')!r}")
    if _DATA_KIND[spec["kind"]] != data.kind:
        raise ValueError(
            f"model {spec['name']!r} is a {spec['kind']} model and reads {_DATA_KIND[spec['kind']]} data, "
            f"but the data module serves {data.kind} data"
        )
    precision = default_precision(accelerator) if precision is None else precision
    if deterministic is None:
        deterministic = not _uses_cuda(accelerator) and accelerator not in ("gpu", "cuda", "mps", "tpu")

    lightning.seed_everything(seed, workers=True, verbose=False)
    data.setup("fit")
    network = build_model(
        spec,
        data.n_features or 0,
        n_classes,
        data.image_size,
        feature_names=data.feature_names,
        standardisation=None if standardisation is None else Standardisation.from_json(standardisation),
    )
    module = TaggerModule(
        network,
        n_classes=n_classes,
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        model_config=spec,
    )
    checkpoint = ModelCheckpoint(
        dirpath=output_dir,
        filename="best",
        monitor="val/loss",
        mode="min",
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    # last.ckpt after every epoch, written after best.ckpt so that it holds the best callback's new state.
    # Not ``save_last=True``: Lightning 2.6 writes that one only in epochs that improved val/loss, so a run
    # resumed from it would repeat the epochs since.
    latest = ModelCheckpoint(dirpath=output_dir, filename="last", save_top_k=1, enable_version_counter=False)
    early_stopping = EarlyStopping(monitor="val/loss", mode="min", patience=patience)
    interactive = sys.stderr.isatty()  # a progress bar in a terminal, one plain line an epoch in batch jobs
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    last = output_dir / "last.ckpt"
    resumed = last.exists()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # on a machine with Slurm's tools Lightning hints at srun for every run outside a Slurm task;
            # a run meant for Slurm is started by srun (see the module docstring), this one is local
            warnings.filterwarnings("ignore", "The `srun` command is available", PossibleUserWarning)
            # the output directory holds the logs, and on resuming the checkpoints it is resumed from
            warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty", UserWarning)
            # the streamed data gives each worker its own units, so its length is exact (ShardStream)
            warnings.filterwarnings("ignore", "Your `IterableDataset` has `__len__` defined", UserWarning)
            trainer = Trainer(
                accelerator=accelerator,
                devices=devices,
                strategy=strategy,
                num_nodes=num_nodes,
                precision=precision,
                max_epochs=max_epochs,
                gradient_clip_val=gradient_clip_val,
                callbacks=[checkpoint, latest, early_stopping, *([] if interactive else [EpochLines()])],
                logger=_loggers(output_dir),
                default_root_dir=output_dir,
                enable_progress_bar=interactive,
                enable_model_summary=False,
                log_every_n_steps=log_every_n_steps,
                deterministic=deterministic,
                # the data module splits every split between ranks itself
                use_distributed_sampler=False,
            )
            trainer.fit(module, datamodule=data, ckpt_path=last if resumed else None)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    train_seconds = time.perf_counter() - start

    best_path = Path(checkpoint.best_model_path) if checkpoint.best_model_path else output_dir / "best.ckpt"
    if trainer.is_global_zero and not best_path.exists():
        raise RuntimeError(f"training wrote no best checkpoint into {output_dir}")
    metrics = _best_metrics(module.history)
    result = {
        **metrics,
        "epochs_trained": int(trainer.current_epoch),
        "global_step": int(trainer.global_step),
        "train_seconds": round(train_seconds, 3),
        "resumed": resumed,
    }
    if trainer.is_global_zero:
        _write_outputs(
            output_dir,
            best_path,
            spec,
            data,
            module,
            result,
            n_classes=n_classes,
            label_names=list(label_names),
            standardisation=standardisation,
            build_info=build_info,
            seed=seed,
            training={
                "max_epochs": max_epochs,
                "batch_size": data.batch_size,
                "bucket": data.bucket,
                "streaming": data.streaming,
                "shuffle_buffer": data.shuffle_buffer if data.streaming else None,
                "world_size": trainer.world_size,
                "lr": lr,
                "weight_decay": weight_decay,
                "schedule": schedule,
                "gradient_clip_val": gradient_clip_val,
                "patience": patience,
                "precision": str(precision),
                "accelerator": accelerator,
                "deterministic": deterministic,
            },
        )
    return result


def _best_metrics(history: list[dict[str, float]]) -> dict[str, Any]:
    """Validation metrics of the epoch with the lowest ``val/loss`` (the first such, as ModelCheckpoint)."""
    if not history:
        return {"val/loss": None, "val/accuracy": None, "val/auc": None, "best_epoch": None}
    best = min(history, key=lambda entry: entry["val/loss"])
    per_class = {key: value for key, value in best.items() if key.startswith("val/auc_vs_background_")}
    return (
        {key: best[key] for key in ("val/loss", "val/accuracy", "val/auc")}
        | per_class
        | {"best_epoch": best["epoch"]}
    )


def _auc_vs_background(result: dict[str, Any], label_names: list[str]) -> dict[str, Any]:
    """``{"val/auc_vs_background": {class name: AUC}}`` of a multi-class run, else nothing."""
    prefix = "val/auc_vs_background_"
    per_class = {
        label_names[int(key.removeprefix(prefix))]: value
        for key, value in result.items()
        if key.startswith(prefix)
    }
    return {"val/auc_vs_background": per_class} if per_class else {}


def _write_outputs(
    output_dir: Path,
    best_path: Path,
    spec: dict[str, Any],
    data: JetDataModule,
    module: TaggerModule,
    result: dict[str, Any],
    *,
    n_classes: int,
    label_names: list[str],
    standardisation: str | Path | None,
    build_info: dict[str, Any] | None,
    seed: int,
    training: dict[str, Any],
) -> None:
    state = _best_state_dict(best_path)
    torch.save(state, output_dir / "model.pt")
    files = {"state_dict": "model.pt", "best_checkpoint": best_path.name, "last_checkpoint": "last.ckpt"}
    if module.gradient_reach:
        reach = {
            "epochs": [entry["epoch"] for entry in module.history][-len(module.gradient_reach) :],
            "input_gradient_norms": [np.asarray(norms).tolist() for norms in module.gradient_reach],
        }
        (output_dir / "gradient_reach.json").write_text(json.dumps(reach) + "\n")
        files["gradient_reach"] = "gradient_reach.json"
    std = None
    if standardisation is not None:
        fitted = Standardisation.from_json(standardisation)
        std = {"names": fitted.names, "mean": fitted.mean.tolist(), "std": fitted.std.tolist()}
    artefact = {
        "format": FORMAT,
        "jettag_version": __version__,
        "model": spec,
        "data_kind": data.kind,
        "n_features": data.n_features,
        "image_size": data.image_size,
        "n_classes": n_classes,
        "label_names": label_names,
        "features": data.feature_names,
        "standardisation": std,
        "build": build_info,
        "n_parameters": n_parameters(module.network),
        "training": training,
        "seed": seed,
        "epochs_trained": result["epochs_trained"],
        "global_step": result["global_step"],
        "best_epoch": result["best_epoch"],
        "best": {key: result[key] for key in ("val/loss", "val/accuracy", "val/auc")}
        | _auc_vs_background(result, label_names),
        "train_seconds": result["train_seconds"],
        "files": files,
    }
    (output_dir / "artefact.json").write_text(json.dumps(artefact, indent=2) + "\n")
