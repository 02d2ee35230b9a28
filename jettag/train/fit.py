"""Train one tagger end to end: seed, build, fit (resuming where a run stopped), and write the artefact.

:func:`train_model` writes into ``output_dir``:

- ``best.ckpt`` and ``last.ckpt``: Lightning checkpoints (lowest ``val/loss``; end of the latest epoch).
  When ``last.ckpt`` exists, a new call resumes from it instead of starting over (see Interruptions).
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
    srun jettag train ... --settings gpus.yaml

with ``gpus.yaml`` holding ``train: {accelerator: gpu, devices: 4, num_nodes: 2, strategy: ddp,
num_workers: 4}``

(``TrainSettings.create(num_nodes=2, ...)`` from Python.) Without ``srun`` Lightning starts its own processes
inside a single Slurm task and the ranks of other nodes never join. NCCL is the backend between GPUs.

Interruptions. A training killed at any point (SIGKILL, a batch job past its time limit, a node lost) and
started again with the same arguments resumes from ``last.ckpt``, the end of the last whole epoch, and on
the CPU ends exactly as the uninterrupted run of the same seed: the same metrics every epoch, best epoch
and weights. The checkpoint holds the weights, the optimiser, the schedule, the loops, the early-stopping
and best-checkpoint callbacks and the validation history; what it does not hold, the random state, is
made a function of ``(seed, epoch)`` alone: the data order of an epoch is drawn from it
(:mod:`jettag.train.data`), and :class:`EpochSeed` reseeds torch, numpy and ``random`` (dropout) at the
first batch of every epoch. The epoch being killed is lost and trained again.

A ``last.ckpt`` that cannot be resumed (cut short, not a checkpoint, or written for another model: a
changed size, another configuration, other input features; or by a run of another seed, other training
settings or other inputs, as ``run.json`` beside it records them: a job rerun because its settings
changed starts over, it never continues the run it replaces) is never loaded, nor deleted: it is moved
with everything else of its run (``best.ckpt``, ``logs/``, ``model.pt``, ...) into a new
``abandoned-<n>/`` beside it, with ``reason.txt``; the log names the file and the reason, and the
training starts over from epoch 0 as a fresh run of the same seed would.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import random
import sys
import time
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from lightning.pytorch.utilities.warnings import PossibleUserWarning

from jettag.artefact import write_artefact
from jettag.jetclass import BINARY_LABEL_NAMES
from jettag.models.config import build_model, load_model_config, n_parameters, validate_model_config
from jettag.settings import TrainSettings
from jettag.shards import partial_path, set_aside, write_text_atomically
from jettag.standardisation import Standardisation
from jettag.train.accelerator import accelerator_plan
from jettag.train.data import JetDataModule
from jettag.train.module import TaggerModule

log = logging.getLogger(__name__)

__all__ = ["ARTEFACT_KEYS", "EpochSeed", "resume_problem", "train_model", "train_run"]

#: the keys of a network's ``artefact.json``
ARTEFACT_KEYS = (
    "format",
    "kind",
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
    "settings",
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


class EpochSeed(Callback):
    """Reseed torch (CUDA included), numpy and ``random`` from ``(seed, epoch)`` as each training epoch
    begins, so that the dropout masks of an epoch do not depend on how the run got there.

    Lightning's checkpoints hold no random state: without this a run resumed at epoch ``e`` would draw from
    what ``seed_everything`` left at its start, not from where the uninterrupted run had got to. At the
    first batch rather than in ``on_train_epoch_start``, which Lightning 2.6 does not call when its loops
    restart on an epoch's end or inside an epoch; what is drawn before that batch (a loader's worker seeds)
    decides nothing of the jets, whose order comes from ``(seed, epoch)`` too (:mod:`jettag.train.data`).
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            self.reseed(trainer.current_epoch)

    def reseed(self, epoch: int) -> None:
        words = np.random.SeedSequence([self.seed % 2**64, epoch]).generate_state(4)
        torch.manual_seed(int(words[0]) << 32 | int(words[1]))
        np.random.seed(int(words[2]))  # noqa: NPY002 - the global state, as seed_everything seeds it
        random.seed(int(words[3]))


#: what a checkpoint of a training holds besides the network's tensors
_TRAINING_KEYS = ("epoch", "global_step", "loops", "callbacks", "optimizer_states")

#: the train settings a resumed run must share with the run that wrote its checkpoint: those that shape
#: the training's course (the others, threads, devices, the model list, only say where and how fast)
_RESUME_SETTINGS = (
    "max_epochs",
    "patience",
    "batch_size",
    "lr",
    "weight_decay",
    "schedule",
    "gradient_clip_val",
    "bucket",
    "streaming",
    "shuffle_buffer",
    "precision",
)

#: what :func:`train_model` writes into its output directory: a run that is given up moves all of it
_RUN_FILES = (
    "run.json",
    "last.ckpt",
    "best.ckpt",
    "model.pt",
    "artefact.json",
    "gradient_reach.json",
    "logs",
    "tensorboard",
)


def resume_problem(last: Path, module: TaggerModule) -> str | None:
    """Why the training cannot resume ``module`` from the checkpoint ``last``, or None when it can.

    Reads the file as tensors and plain values only (``weights_only=True``), so that garbage cannot run
    code, and checks that it is a whole Lightning checkpoint of a training whose network has this
    module's tensors, names and shapes, and whose model configuration is this one.
    """
    if last.stat().st_size == 0:
        return "it is empty"
    if not zipfile.is_zipfile(last):
        return "it is not a whole checkpoint (no zip directory at its end: cut short, or not torch.save's)"
    try:
        checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as err:  # whatever the reader raises, the file cannot be resumed from; it is reported
        first_line = (str(err).strip().splitlines() or [""])[0]
        return f"it cannot be read ({type(err).__name__}: {first_line})"
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        return "it holds no network (no 'state_dict')"
    missing = [key for key in _TRAINING_KEYS if key not in checkpoint]
    if missing:
        return f"it is not the checkpoint of a training (no {', '.join(map(repr, missing))})"
    theirs, ours = checkpoint["state_dict"], module.state_dict()
    if set(theirs) != set(ours):
        only_there = sorted(set(theirs) - set(ours))
        only_here = sorted(set(ours) - set(theirs))
        return (
            "its network is another one: "
            f"{len(only_there)} tensors only there ({', '.join(only_there[:3]) or '-'}), "
            f"{len(only_here)} only here ({', '.join(only_here[:3]) or '-'})"
        )
    for name, tensor in ours.items():
        if tuple(theirs[name].shape) != tuple(tensor.shape):
            return (
                f"its network is another size: {name} is {list(theirs[name].shape)} there, "
                f"{list(tensor.shape)} here"
            )
    config = checkpoint.get("hyper_parameters", {}).get("model_config")
    here = module.hparams.get("model_config")
    if config is not None and here is not None and config != here | {"name": config.get("name")}:
        # the name alone changes nothing that was trained
        changed = sorted(
            key for key in set(config) | set(here) if key != "name" and config.get(key) != here.get(key)
        )
        shown = ", ".join(f"{key} {config.get(key)!r} there, {here.get(key)!r} here" for key in changed)
        return f"it was written for another model configuration ({shown})"
    return None


def _run_identity(settings: TrainSettings, seed: int, build_info: dict[str, Any] | None) -> dict[str, Any]:
    """What a checkpoint's run must share with this one to be resumed (``run.json``): the seed, the train
    settings that shape its course, and the inputs' build settings."""
    # without a schedule a run may be resumed to train longer; a schedule's course depends on max_epochs
    keys = [key for key in _RESUME_SETTINGS if key != "max_epochs" or settings.schedule != "none"]
    identity = {"seed": seed, "train": {key: getattr(settings, key) for key in keys}}
    result: dict[str, Any] = json.loads(json.dumps(identity | {"inputs": build_info or {}}, default=str))
    return result


def _identity_problem(path: Path, identity: dict[str, Any]) -> str | None:
    """Why the run recorded in ``path`` (``run.json``) is another than ``identity``; None when it is this
    one, or when the checkpoint has no record (written before runs were recorded)."""
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return f"its run record {path.name} cannot be read ({err})"
    if recorded == identity:
        return None
    changed = []
    for section in ("seed", "train", "inputs"):
        there, here = recorded.get(section), identity[section]
        if isinstance(here, dict) and isinstance(there, dict):
            changed += [
                f"{section}.{key} {there.get(key)!r} there, {here.get(key)!r} here"
                for key in sorted(set(there) | set(here))
                if there.get(key) != here.get(key)
            ]
        elif there != here:
            changed.append(f"{section} {there!r} there, {here!r} here")
    return f"it was written by another run ({'; '.join(changed)})"


def _resumable(output_dir: Path, module: TaggerModule, identity: dict[str, Any]) -> bool:
    """Whether ``output_dir/last.ckpt`` exists and can be resumed; one that cannot is set aside (by global
    rank 0; every rank sees that it cannot, or that it has gone, and starts over alike)."""
    last = output_dir / "last.ckpt"
    if not last.exists():
        return False
    problem = resume_problem(last, module) or _identity_problem(output_dir / "run.json", identity)
    if problem is None:
        return True
    if getattr(rank_zero_only, "rank", 0) == 0:
        target = set_aside(output_dir, _RUN_FILES, f"{output_dir / 'last.ckpt'}: {problem}")
        log.warning(
            "cannot resume from %s: %s; moved it and the rest of its run to %s/, starting over from epoch 0",
            last,
            problem,
            target,
        )
    return False


def train_model(
    model_config: dict[str, Any],
    data: JetDataModule,
    output_dir: str | Path,
    settings: TrainSettings,
    seed: int,
    n_classes: int = 1,
    label_names: Sequence[str] = BINARY_LABEL_NAMES,
    standardisation: str | Path | None = None,
    build_info: dict[str, Any] | None = None,
    log_every_n_steps: int = 10,
    deterministic: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train the tagger ``model_config`` describes on ``data``; return the best validation metrics.

    ``settings`` are the ``train`` section (:class:`jettag.settings.TrainSettings`); the data loader's
    (``batch_size``, ``bucket``, ``streaming``, ``shuffle_buffer``, ``num_workers``) are those of ``data``,
    and the artefact records them as used. Seeds everything with ``seed`` (data-loader workers included);
    on CPU the run is also deterministic
    (``deterministic=None`` means: deterministic on CPU, not on GPUs, where it would refuse cuDNN's RNNs),
    so the same seed gives the same metrics. The precision (``precision`` None: bf16-mixed on a GPU that
    supports it) and cuDNN's flags are those of :func:`jettag.train.accelerator.accelerator_plan`.
    Early stopping watches ``val/loss`` with ``patience`` epochs. If ``output_dir/last.ckpt`` exists the
    run resumes from it (optimiser, schedule, epoch, early stopping and best checkpoint included) and trains
    up to ``max_epochs`` in all (another ``max_epochs`` than the checkpoint's run had is resumed only with
    ``schedule: none``: a schedule's course depends on it); every epoch's randomness comes from
    ``(seed, epoch)``, so a run killed and resumed ends as the uninterrupted one. A ``last.ckpt`` that
    cannot be resumed (:func:`resume_problem`, or of another run than ``run.json`` records) is moved with
    the rest of its run into ``output_dir/abandoned-<n>/``, with a warning naming it and why, and the run
    starts over (see the module docstring).

    ``standardisation`` (the build stage's JSON) and ``build_info`` (e.g. ``ordering``, ``max_length``,
    the image spec) are copied into ``artefact.json`` so the inputs can be rebuilt for inference.
    ``label_names`` name the classes by label value (binary: 0 background, 1 signal). ``callbacks`` are
    Lightning callbacks added to the training's own (``jettag tune`` reports each epoch's val/auc to its
    trial with one).

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
    settings = dataclasses.replace(
        settings,
        batch_size=data.batch_size,
        bucket=data.bucket,
        streaming=data.streaming,
        shuffle_buffer=data.shuffle_buffer,
        num_workers=data.num_workers,
    )
    accelerator = settings.accelerator
    spec = validate_model_config(model_config, source=f"model {model_config.get('name', '?')!r}")
    if _DATA_KIND[spec["kind"]] != data.kind:
        raise ValueError(
            f"model {spec['name']!r} is a {spec['kind']} model and reads {_DATA_KIND[spec['kind']]} data, "
            f"but the data module serves {data.kind} data"
        )
    plan = accelerator_plan(accelerator, settings.precision, data.kind, deterministic=deterministic)
    precision, deterministic = plan.precision, plan.deterministic

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
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        schedule=settings.schedule,
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
    early_stopping = EarlyStopping(monitor="val/loss", mode="min", patience=settings.patience)
    interactive = sys.stderr.isatty()  # a progress bar in a terminal, one plain line an epoch in batch jobs
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    last = output_dir / "last.ckpt"
    identity = _run_identity(settings, seed, build_info)
    resumed = _resumable(output_dir, module, identity)
    if not resumed and getattr(rank_zero_only, "rank", 0) == 0:
        write_text_atomically(output_dir / "run.json", json.dumps(identity, indent=2) + "\n")
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), plan.backend():
            # on a machine with Slurm's tools Lightning hints at srun for every run outside a Slurm task;
            # a run meant for Slurm is started by srun (see the module docstring), this one is local
            warnings.filterwarnings("ignore", "The `srun` command is available", PossibleUserWarning)
            # the output directory holds the logs, and on resuming the checkpoints it is resumed from
            warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty", UserWarning)
            # the streamed data gives each worker its own units, so its length is exact (ShardStream)
            warnings.filterwarnings("ignore", "Your `IterableDataset` has `__len__` defined", UserWarning)
            trainer = Trainer(
                accelerator=accelerator,
                devices=list(settings.devices) if isinstance(settings.devices, tuple) else settings.devices,
                strategy=settings.strategy,
                num_nodes=settings.num_nodes,
                precision=precision,
                max_epochs=settings.max_epochs,
                gradient_clip_val=settings.gradient_clip_val,
                callbacks=[
                    checkpoint,
                    latest,
                    early_stopping,
                    EpochSeed(seed),
                    *([] if interactive else [EpochLines()]),
                    *callbacks,
                ],
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
            settings=settings,
            training={
                "world_size": trainer.world_size,
                "precision": str(precision),
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
    settings: TrainSettings,
    training: dict[str, Any],
) -> None:
    state = _best_state_dict(best_path)
    partial = partial_path(output_dir / "model.pt")
    torch.save(state, partial)
    partial.replace(output_dir / "model.pt")
    files = {"state_dict": "model.pt", "best_checkpoint": best_path.name, "last_checkpoint": "last.ckpt"}
    if module.gradient_reach:
        reach = {
            "epochs": [entry["epoch"] for entry in module.history][-len(module.gradient_reach) :],
            "input_gradient_norms": [np.asarray(norms).tolist() for norms in module.gradient_reach],
        }
        write_text_atomically(output_dir / "gradient_reach.json", json.dumps(reach) + "\n")
        files["gradient_reach"] = "gradient_reach.json"
    std = None
    if standardisation is not None:
        fitted = Standardisation.from_json(standardisation)
        std = {"names": fitted.names, "mean": fitted.mean.tolist(), "std": fitted.std.tolist()}
    content = {
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
        "settings": settings.to_dict(),
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
    # last, and whole or not at all: its presence says the run is complete
    write_artefact(output_dir, "network", content)


def train_run(
    model: str | Path,
    build_dir: str | Path,
    output_dir: str | Path,
    seed: int,
    settings: TrainSettings,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """The train stage for one network and seed: the model file ``model`` trained on the build stage's
    ``build_dir`` into ``output_dir`` with ``settings`` (the ``train`` section, where the model file's own
    ``train`` keys take the place of its values) and any extra Lightning ``callbacks``; see
    :func:`train_model`."""
    torch.set_num_threads(settings.threads)
    spec = load_model_config(model)
    settings = settings.for_model(spec)
    build = Path(build_dir)
    summary = json.loads((build / "train" / "summary.json").read_text())
    data = JetDataModule.from_settings(_DATA_KIND[spec["kind"]], build, settings, seed)
    result = train_model(
        spec,
        data,
        output_dir,
        settings,
        seed,
        n_classes=summary.get("n_classes", 1),
        label_names=summary.get("label_names", list(BINARY_LABEL_NAMES)),
        standardisation=build / "standardisation.json",
        build_info={**summary["settings"], "features": summary["features"]},
        callbacks=callbacks,
    )
    log.info("%s seed %d: %s", spec["name"], seed, result)
    return result
