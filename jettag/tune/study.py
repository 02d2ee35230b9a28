"""One tagger's search: an Optuna study of trials, each a real training, stored so that it resumes.

:func:`tune_model` runs the study of one tagger (a model file, or ``bdt``) in ``output_dir``:

- ``study.journal``: Optuna's journal of the study (every trial's parameters, per-epoch validation AUC,
  value and state). Run again, the study goes on from it up to ``tune.trials`` finished trials; a trial
  that stopped the search (an error, or running when the search was killed) is marked failed and tried
  again first, with its parameters.
  A journal written for other settings (another space, model file, build or train settings, epochs, seed,
  or other data) is not resumed: it is moved with the rest of the search into ``abandoned-<n>/`` with
  ``reason.txt``, and the study starts over.
- ``trials/<number>/``: each trial's training (``model.yaml``, ``artefact.json``, ``model.pt``, logs; the
  checkpoints are removed once the trial ends).
- ``trials.csv``: per trial its number, state, validation AUC (of a pruned trial: at the epoch it was
  stopped), epochs, seconds, build, whether it is the baseline, and its values.
- ``best.yaml``: the best trial's model configuration (``configs/models`` format; for the BDT its
  ``HistGradientBoostingClassifier`` arguments), and ``best_settings.yaml``: the ``build`` and ``train``
  sections it was trained with (``jettag train --model best.yaml --settings best_settings.yaml``).
- ``study.json``: the counts, the best and the baseline trial, the time per trial.

A trial draws every entry of the tagger's space (:mod:`jettag.searchspace`), trains on the build of its
build settings (:mod:`jettag.tune.builds`) for at most ``tune.max_epochs`` epochs with the training seed
``tune.seed``, and is worth the validation AUC of its best epoch (lowest ``val/loss``, the epoch the
training keeps). Networks report ``val/auc`` every epoch to the study (:class:`ReportAUC`), and the
median pruner stops a trial that lies below the median of the earlier trials at the same epoch. The
sampler is TPE, seeded from ``tune.seed`` and the number of trials before, so that the same settings give
the same study, also when it was interrupted and resumed. With ``tune.baseline`` the first trial is the
model file and settings as they are.

Each trial trains on one device (``train.devices`` 1, no DDP), whatever the ``train`` section says.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import yaml
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from jettag.models import MODEL_TRAIN_KEYS, load_model_config, validate_model_config
from jettag.schema import ConfigError
from jettag.searchspace import Param, parse_entries, set_key
from jettag.settings import BuildSettings, TrainSettings, TuneSettings
from jettag.shards import set_aside, write_text_atomically
from jettag.train import train_run
from jettag.train.bdt import (
    DEFAULT_PARAMS,
    bdt_arguments,
    is_bdt_config,
    load_bdt_config,
    settable_bdt_arguments,
    train_bdt,
)
from jettag.tune.builds import cached_build

__all__ = [
    "STUDY_FILES",
    "ReportAUC",
    "Tagger",
    "base_sections",
    "baseline_values",
    "load_tagger",
    "tagger_params",
    "trial_settings",
    "tune_model",
    "write_outputs",
]

log = logging.getLogger(__name__)

#: the study's name in its journal
STUDY_NAME = "jettag-tune"
JOURNAL = "study.journal"
#: what a search writes into its directory: a search that is given up moves all of it
STUDY_FILES = (JOURNAL, "trials", "trials.csv", "study.json", "best.yaml", "best_settings.yaml")
#: ``train`` keys that do not change what a trial learns: changing them does not start a study over
_NOT_IDENTITY = ("models", "seeds", "model_dir", "threads", "num_workers")
#: trial states that count towards ``tune.trials``
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclasses.dataclass(frozen=True)
class Tagger:
    """What is tuned: a network (its model file's configuration) or the BDT (``spec`` None, ``bdt`` the
    arguments of its model file, if it has one)."""

    name: str
    kind: str
    spec: dict[str, Any] | None
    bdt: dict[str, Any] = dataclasses.field(default_factory=dict)


def load_tagger(model: str | Path) -> Tagger:
    """The tagger of a model file (a network's or the BDT's, ``kind: bdt``), or the BDT with jettag's
    arguments for ``"bdt"``."""
    if str(model) == "bdt":
        return Tagger("bdt", "bdt", None)
    if is_bdt_config(model):
        return Tagger("bdt", "bdt", None, load_bdt_config(model))
    spec = load_model_config(model)
    return Tagger(spec["name"], spec["kind"], spec)


def tagger_params(tagger: Tagger, settings: TuneSettings) -> list[Param]:
    """The parameters of ``tagger``'s space, checked against the tagger: a model file's keys for a network,
    the classifier's arguments for the BDT. A :class:`ConfigError` names every bad entry and its key."""
    where, entries = settings.entries(tagger.name, tagger.kind)
    params = parse_entries(entries, where)
    problems = []
    known = settable_bdt_arguments()
    for param in params:
        label = f"'{param.where}' ({param.section}.{param.key})"
        if tagger.spec is None and param.section in ("model", "train"):
            problems.append(
                f"{label}: the BDT has no network and no Lightning training; its arguments are section bdt"
            )
        elif tagger.spec is not None and param.section == "bdt":
            problems.append(f"{label}: section bdt sets the BDT's arguments, but {tagger.name} is a network")
        elif param.section == "bdt" and param.key not in known:
            problems.append(
                f"{label}: not an argument of the BDT that can be searched (known: {', '.join(known)})"
            )
        elif param.section == "model" and tagger.spec is not None:
            for value in param.bounds():
                try:
                    validate_model_config(set_key(tagger.spec, param.key, value), source=tagger.name)
                except ConfigError as err:
                    detail = "; ".join(line.strip(" -") for line in str(err).splitlines()[1:])
                    problems.append(f"{label} = {value!r}: {detail}")
                    break
    if problems:
        raise ConfigError("invalid search space\n  - " + "\n  - ".join(problems))
    return params


@dataclasses.dataclass(frozen=True)
class TrialSettings:
    """What one trial trains with."""

    spec: dict[str, Any] | None
    build: BuildSettings
    train: TrainSettings
    bdt: dict[str, Any]


def base_sections(
    tagger: Tagger, build: BuildSettings, train: TrainSettings, settings: TuneSettings
) -> dict[str, dict[str, Any]]:
    """Every section a trial's values go into, as the configuration has them."""
    one_device = {"max_epochs": settings.max_epochs, "devices": 1, "strategy": "auto", "num_nodes": 1}
    # a model file's own train keys are the trial's starting point; the trial's values go over them
    spec = {key: value for key, value in (tagger.spec or {}).items() if key != "train"}
    own_train = TrainSettings.for_model(train, tagger.spec or {}).to_dict()
    return {
        "model": spec,
        "build": build.to_dict(),
        "train": own_train | one_device,
        "bdt": DEFAULT_PARAMS | tagger.bdt,
    }


def trial_settings(
    values: Sequence[tuple[Param, Any]], base: Mapping[str, dict[str, Any]], tagger: Tagger
) -> TrialSettings:
    """The ``base`` sections with each parameter of ``values`` set to its value."""
    sections = {name: dict(section) for name, section in base.items()}
    for param, value in values:
        sections[param.section] = set_key(sections[param.section], param.key, value)
    return TrialSettings(
        spec=None if tagger.spec is None else validate_model_config(sections["model"], source=tagger.name),
        build=BuildSettings.from_dict(sections["build"]),
        train=TrainSettings.from_dict(sections["train"]),
        bdt=sections["bdt"],
    )


def _get(mapping: Mapping[str, Any], key: str) -> Any:
    node: Any = mapping
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def baseline_values(params: Sequence[Param], base: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The values the base settings give the parameters, as the study keeps them, for those that lie in
    the space (the others are drawn)."""
    sections = {**base, "bdt": bdt_arguments() | base["bdt"]}
    values = {}
    for param in params:
        value = _get(sections[param.section], param.key)
        if isinstance(value, tuple):
            value = list(value)
        if param.contains(value):
            values[param.name] = param.encode(value)
    return values


class ReportAUC(Callback):
    """Report each epoch's validation AUC to an Optuna trial, and stop the training when the study's
    pruner says so (by raising :class:`optuna.TrialPruned`, which the study records as pruned)."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # runs after the epoch's validation, whose metrics the module keeps in its history
        history = getattr(pl_module, "history", None)
        if not history or history[-1]["epoch"] != trainer.current_epoch:
            return
        auc, epoch = float(history[-1]["val/auc"]), int(trainer.current_epoch)
        self.trial.report(auc, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"epoch {epoch + 1}: val/auc {auc:.4f} lies below the median of the earlier trials"
            )


def _sampler_seed(seed: int, n: int) -> int:
    """The sampler's seed for the trial that follows ``n`` others."""
    return int(np.random.SeedSequence([seed, n]).generate_state(1)[0])


def _identity(
    tagger: Tagger,
    entries: Sequence[Mapping[str, Any]],
    settings: TuneSettings,
    build: BuildSettings,
    train: TrainSettings,
    ingest_summary: str | Path,
) -> dict[str, Any]:
    """What the study's trials depend on; a study of another identity is not resumed."""
    tune = settings.to_dict()
    identity = {
        "model": tagger.spec if tagger.spec is not None else ({"bdt": tagger.bdt} if tagger.bdt else "bdt"),
        "space": list(entries),
        "tune": {key: tune[key] for key in tune if key not in ("models", "trials", "timeout", "space")},
        "build": build.to_dict(),
        "train": {key: value for key, value in train.to_dict().items() if key not in _NOT_IDENTITY},
        "data": hashlib.sha256(Path(ingest_summary).read_bytes()).hexdigest(),
    }
    plain: dict[str, Any] = json.loads(json.dumps(identity))
    return plain


@contextlib.contextmanager
def _exclusive(output_dir: Path) -> Iterator[None]:
    """Hold the study's lock, or refuse: two searches of one study would fail each other's trials."""
    lock = output_dir / "study.lock"
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BlockingIOError(
                f"{output_dir}: another `jettag tune` is running this study ({lock})"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _changed(theirs: Mapping[str, Any], ours: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in set(theirs) | set(ours) if theirs.get(key) != ours.get(key))


def _storage(output_dir: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(output_dir / JOURNAL)))


def _open_study(
    output_dir: Path, identity: dict[str, Any], settings: TuneSettings
) -> tuple[optuna.Study, JournalStorage]:
    """The study of ``output_dir`` and its storage: resumed when its journal is of this identity, else
    started anew (an older one set aside)."""
    pruner = optuna.pruners.MedianPruner(
        n_startup_trials=settings.pruner_startup_trials, n_warmup_steps=settings.pruner_warmup_epochs
    )
    if (output_dir / JOURNAL).exists():
        try:
            storage = _storage(output_dir)
            study = optuna.load_study(study_name=STUDY_NAME, storage=storage, pruner=pruner)
            theirs = study.user_attrs.get("identity", {})
            problem = (
                None
                if theirs == identity
                else f"it was run with other {', '.join(_changed(theirs, identity))}"
            )
        except KeyError:
            problem = f"it holds no study named {STUDY_NAME}"
        if problem is None:
            return study, storage
        target = set_aside(output_dir, STUDY_FILES, f"{output_dir / JOURNAL}: {problem}")
        log.warning("cannot resume %s: %s; moved it and the rest of its search to %s/, starting over",
                    output_dir / JOURNAL, problem, target)  # fmt: skip
    storage = _storage(output_dir)
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, direction="maximize", pruner=pruner)
    study.set_user_attr("identity", identity)
    return study, storage


def _retry_stopped(study: optuna.Study, storage: JournalStorage) -> None:
    """Queue again, with their parameters, the trials that stopped their search (an error, or a search
    killed while they ran: those are still marked running, and are marked failed here)."""
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    trials = study.get_trials(deepcopy=False)
    retried = {trial.user_attrs.get("retry_of") for trial in trials}
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_user_attr(trial_id, "stopped", "the search was killed while it ran")
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        elif not (trial.state == TrialState.FAIL and trial.user_attrs.get("stopped")):
            continue
        if trial.number in retried:
            continue
        attrs = {key: value for key, value in trial.user_attrs.items() if key == "baseline"}
        study.enqueue_trial(trial.params, user_attrs=attrs | {"retry_of": trial.number})
        log.warning("trial %d stopped its search: it is run again with its parameters", trial.number)


def _stopped(trial: FrozenTrial) -> bool:
    """Whether ``trial`` stopped its search (it is tried again and counts for nothing)."""
    return trial.state == TrialState.RUNNING or (
        trial.state == TrialState.FAIL and bool(trial.user_attrs.get("stopped"))
    )


class _Objective:
    """One trial: draw the values, build (or find) its build, train, and return its validation AUC."""

    def __init__(
        self,
        tagger: Tagger,
        params: Sequence[Param],
        base: Mapping[str, dict[str, Any]],
        data: tuple[Mapping[str, Sequence[Path]], str | Path],
        output_dir: Path,
        builds_dir: str | Path,
        seed: int,
    ) -> None:
        self.tagger, self.params, self.base = tagger, params, base
        self.shards, self.ingest_summary = data
        self.output_dir, self.builds_dir, self.seed = output_dir, builds_dir, seed

    def __call__(self, trial: optuna.Trial) -> float:
        trial_dir = self.output_dir / "trials" / str(trial.number)
        try:
            chosen = trial_settings([(p, p.suggest(trial)) for p in self.params], self.base, self.tagger)
            key, build_dir = cached_build(self.builds_dir, self.shards, self.ingest_summary, chosen.build)
            trial.set_user_attr("build", key)
            trial_dir.mkdir(parents=True, exist_ok=True)
            if chosen.spec is None:
                return self.bdt(trial, chosen, build_dir, trial_dir)
            return self.network(trial, chosen, build_dir, trial_dir)
        except optuna.TrialPruned:
            raise
        except BaseException as err:
            # an error (or Ctrl-C) ends the search; run again, it retries this trial first
            trial.set_user_attr("stopped", f"{type(err).__name__}: {err}"[:1000])
            raise
        finally:
            _remove_checkpoints(trial_dir)

    def network(self, trial: optuna.Trial, chosen: TrialSettings, build_dir: Path, trial_dir: Path) -> float:
        write_text_atomically(trial_dir / "model.yaml", yaml.safe_dump(chosen.spec, sort_keys=False))
        result = train_run(
            trial_dir / "model.yaml", build_dir, trial_dir, self.seed, chosen.train, [ReportAUC(trial)]
        )
        trial.set_user_attr("epochs", result["epochs_trained"])
        trial.set_user_attr("best_epoch", result["best_epoch"])
        return float(result["val/auc"])

    def bdt(self, trial: optuna.Trial, chosen: TrialSettings, build_dir: Path, trial_dir: Path) -> float:
        summary = json.loads((build_dir / "train" / "summary.json").read_text())
        metrics = train_bdt(
            build_dir / "train" / "highlevel.arrow",
            build_dir / "val" / "highlevel.arrow",
            trial_dir,
            seed=self.seed,
            label_names=summary["label_names"],
            threads=chosen.train.threads,
            **chosen.bdt,
        )
        trial.set_user_attr("iterations", metrics["n_iter"])
        return float(metrics["val_auc"])


def _remove_checkpoints(trial_dir: Path) -> None:
    for name in ("best.ckpt", "last.ckpt"):
        (trial_dir / name).unlink(missing_ok=True)


def tune_model(
    model: str | Path,
    shards: Mapping[str, Sequence[Path]],
    ingest_summary: str | Path,
    output_dir: str | Path,
    builds_dir: str | Path,
    settings: TuneSettings,
    build: BuildSettings,
    train: TrainSettings,
    first_trials: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Run (or resume) the study of the tagger ``model`` (a model file, or ``"bdt"``) on the ingest
    ``shards`` (by split) in ``output_dir``, builds cached in ``builds_dir``; write its outputs (see the
    module docstring) and return ``study.json``'s content.

    ``settings`` are the ``tune`` section, ``build`` and ``train`` the settings every trial starts from.
    ``first_trials`` (for scripts and tests) queue the values of the first trials of a new study, by
    parameter name, as Optuna's ``enqueue_trial``; the rest of those trials' values are drawn."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    tagger = load_tagger(model)
    entries = settings.entries(tagger.name, tagger.kind)[1]
    params = tagger_params(tagger, settings)
    base = base_sections(tagger, build, train, settings)
    identity = _identity(tagger, entries, settings, build, train, ingest_summary)
    objective = _Objective(
        tagger, params, base, (shards, ingest_summary), output_dir, builds_dir, settings.seed
    )
    with _exclusive(output_dir):
        study, storage = _open_study(output_dir, identity, settings)
        if not study.trials:
            if settings.baseline:
                study.enqueue_trial(baseline_values(params, base), user_attrs={"baseline": True})
            for values in first_trials:
                study.enqueue_trial({p.name: p.encode(values[p.name]) for p in params if p.name in values})
        _retry_stopped(study, storage)
        start = time.monotonic()
        while True:
            trials = study.get_trials(deepcopy=False)
            finished = sum(trial.state in FINISHED for trial in trials)
            # trials whose value was not finite (Optuna fails them and goes on)
            failed = sum(trial.state == TrialState.FAIL and not _stopped(trial) for trial in trials)
            if finished >= settings.trials:
                break
            if failed >= settings.trials:
                raise RuntimeError(
                    f"{output_dir}: {failed} trials failed (their values were not finite); see the log"
                )
            if settings.timeout is not None and time.monotonic() - start >= settings.timeout:
                log.info("tune.timeout (%s s) reached after %d finished trials", settings.timeout, finished)
                break
            # seeded by what came before, not counting stopped trials: a resumed study draws as the
            # uninterrupted one would
            study.sampler = optuna.samplers.TPESampler(
                seed=_sampler_seed(settings.seed, finished + failed), n_startup_trials=settings.random_trials
            )
            study.optimize(objective, n_trials=1)
        return write_outputs(study, tagger, params, base, output_dir, settings)


def _value(trial: FrozenTrial) -> float | None:
    return None if trial.value is None else float(trial.value)


def _seconds(trial: FrozenTrial) -> float | None:
    return None if trial.duration is None else round(trial.duration.total_seconds(), 1)


def _decoded(params: Sequence[Param], trial: FrozenTrial) -> dict[str, Any]:
    return {p.name: p.decode(trial.params[p.name]) for p in params if p.name in trial.params}


def _cell(value: Any) -> Any:
    """A value as trials.csv shows it: lists and mappings as JSON, the rest as it is."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def _trials_csv(study: optuna.Study, params: Sequence[Param]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["number", "state", "val_auc", "epochs", "seconds", "build", "baseline", *(p.name for p in params)]
    )
    for trial in study.get_trials(deepcopy=False):
        values = _decoded(params, trial)
        value = _value(trial)
        epochs = trial.user_attrs.get("epochs")
        if trial.state == TrialState.PRUNED:
            epochs = len(trial.intermediate_values)
        writer.writerow([
            trial.number,
            trial.state.name.lower(),
            "" if value is None else f"{value:.6f}",
            "" if epochs is None else epochs,
            _seconds(trial) or "",
            trial.user_attrs.get("build", ""),
            int(bool(trial.user_attrs.get("baseline"))),
            *(_cell(values[p.name]) if p.name in values else "" for p in params),
        ])  # fmt: skip
    return out.getvalue()


def write_outputs(
    study: optuna.Study,
    tagger: Tagger,
    params: Sequence[Param],
    base: Mapping[str, dict[str, Any]],
    output_dir: Path,
    settings: TuneSettings,
) -> dict[str, Any]:
    """Write ``trials.csv``, ``best.yaml``, ``best_settings.yaml`` and ``study.json``; return the last."""
    trials = study.get_trials(deepcopy=False)
    complete = [trial for trial in trials if trial.state == TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(f"{output_dir}: no trial of the study completed, so there is no best one")
    best = study.best_trial
    values = [(p, p.decode(best.params[p.name])) for p in params]
    chosen = trial_settings(values, base, tagger)
    write_text_atomically(output_dir / "trials.csv", _trials_csv(study, params))
    finished = [trial for trial in trials if trial.state in FINISHED]
    baseline = next(
        (trial for trial in trials if trial.user_attrs.get("baseline") and trial.state in FINISHED), None
    )
    header = (
        f"# jettag tune: the best of {len(finished)} trials of {tagger.name} (trial {best.number}, "
        f"validation AUC {best.value:.4f})\n"
    )
    tuned = ", ".join(f"{p.section}.{p.key}" for p in params)
    if chosen.spec is None:
        best_text = (
            header
            + "# the BDT's HistGradientBoostingClassifier arguments: jettag.train.bdt.train_bdt(**these)\n"
        )
        best_text += yaml.safe_dump({"name": tagger.name, "kind": "bdt"} | chosen.bdt, sort_keys=False)
    else:
        best_text = (
            header + "# its train keys below; the whole build and train sections: best_settings.yaml beside "
            "this file\n"
        )
        spec = {"name": chosen.spec["name"], "kind": chosen.spec["kind"]} | chosen.spec
        # the tagger's own train keys: those its model file set and those the search chose
        own = set((tagger.spec or {}).get("train") or {})
        own |= {p.key for p in params if p.section == "train" and p.key in MODEL_TRAIN_KEYS}
        train = chosen.train.to_dict()
        spec["train"] = {key: train[key] for key in MODEL_TRAIN_KEYS if key in own}
        if not spec["train"]:
            del spec["train"]
        best_text += yaml.safe_dump(spec, sort_keys=False)
    write_text_atomically(output_dir / "best.yaml", best_text)
    settings_text = (
        header + f"# the build and train settings it was trained with (searched: {tuned});\n"
        "# jettag fit-standardisation / build / train --settings best_settings.yaml trains it again\n"
    )
    settings_text += yaml.safe_dump(
        {"build": chosen.build.to_dict(), "train": chosen.train.to_dict()}, sort_keys=False
    )
    write_text_atomically(output_dir / "best_settings.yaml", settings_text)
    seconds = [s for trial in finished if (s := _seconds(trial)) is not None]
    content = {
        "model": tagger.name,
        "kind": tagger.kind,
        "trials": {
            "complete": len(complete),
            "pruned": sum(trial.state == TrialState.PRUNED for trial in trials),
            "failed": sum(trial.state == TrialState.FAIL for trial in trials),
        },
        "best": {
            "number": best.number,
            "val_auc": _value(best),
            "params": _decoded(params, best),
            "build": best.user_attrs.get("build"),
        },
        "baseline": None
        if baseline is None
        else {"number": baseline.number, "val_auc": _value(baseline), "state": baseline.state.name.lower()},
        "median_seconds_per_trial": statistics.median(seconds) if seconds else None,
        "seconds": round(sum(seconds), 1),
        "settings": settings.to_dict(),
    }
    write_text_atomically(output_dir / "study.json", json.dumps(content, indent=1) + "\n")
    return content
