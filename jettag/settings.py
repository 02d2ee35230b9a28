"""One frozen, typed settings object per stage, built from the validated workflow configuration.

How a setting gets from the configuration file to the code:

1. ``configs/*.yaml`` (or ``--config`` overrides) is validated against ``jettag/schemas/config.schema.yaml``,
   which holds every key's type, range and **default** (:func:`jettag.config.validate_config`); the
   dataclasses below have no defaults of their own.
2. A rule hands its stage the validated section as JSON in a ``params:`` entry (``workflow/rules/*.smk``,
   :func:`settings_json`), so Snakemake reruns a job whose settings changed, and the command reads it with
   ``--settings``. By hand, ``--settings`` takes a YAML or JSON file, or JSON text, holding any part of a
   workflow configuration; what it leaves out takes the schema's default.
3. The stage function receives the dataclass (``IngestSettings.from_config(config)``) and nothing else
   from the configuration; what it writes records the settings as written (:meth:`Settings.to_dict`), and
   ``from_dict`` reads them back.

A dataclass field is named exactly as its key in the schema. Sections that need keys from the top level of
the configuration (ingest's ``signal``, ``background``, ``multiclass``) carry them as fields too.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from jettag.schema import ConfigError, read_yaml, validate_schema
from jettag.searchspace import space_problems

__all__ = [
    "STAGE_SETTINGS",
    "AugmentSpec",
    "BuildSettings",
    "EvaluateSettings",
    "GenerateSettings",
    "ImageSpec",
    "IngestSettings",
    "LearningCurveSettings",
    "PredictSettings",
    "Settings",
    "TrainSettings",
    "TuneSettings",
    "load_stage_config",
    "settings_json",
]


def load_stage_config(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """A (partial) workflow configuration, checked against the schema and completed with its defaults.

    ``source``: None (every default), a mapping, JSON text (starting with ``{``), or a YAML / JSON file.
    Only the schema is checked: the checks that open input files are the workflow's
    (:func:`jettag.config.validate_config`)."""
    if source is None:
        raw: Any = {}
        where = "settings"
    elif isinstance(source, Mapping):
        raw, where = dict(source), "settings"
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        try:
            raw = json.loads(source)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--settings: not valid JSON: {err}") from None
        where = "--settings"
    else:
        raw, where = read_yaml(source, "settings"), str(source)
    return validate_schema(raw, source=where)


def _frozen(value: Any) -> Any:
    """Lists as tuples, so that a frozen settings object holds no list that could change under it."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


def _plain(value: Any) -> Any:
    """The JSON form of a field's value: tuples as lists, nested settings as mappings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


class Settings:
    """What every stage's settings share: built from a configuration, written and read back as JSON."""

    #: the configuration section the fields come from
    SECTION: ClassVar[str]
    #: keys taken from the top level of the configuration rather than from ``SECTION``
    TOP_LEVEL: ClassVar[tuple[str, ...]] = ()
    #: fields that are settings objects of their own, by name
    NESTED: ClassVar[dict[str, type[Settings]]] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """The settings of a validated configuration (defaults filled in)."""
        values = {key: config[key] for key in cls.TOP_LEVEL} | dict(config[cls.SECTION])
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """The settings from their own written form (:meth:`to_dict`); every field must be there."""
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        missing = [name for name in names if name not in values]
        unknown = sorted(set(values) - set(names))
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"unknown {', '.join(unknown)}"] if unknown else []
        if problems:
            raise ConfigError(f"{cls.__name__}: " + "; ".join(problems))
        converted = {
            name: cls.NESTED[name].from_dict(values[name]) if name in cls.NESTED else _frozen(values[name])
            for name in names
        }
        return cls(**converted)

    @classmethod
    def create(cls, **values: Any) -> Self:
        """The settings with ``values`` given and the schema's defaults for the rest, checked against the
        schema (for scripts and tests; the workflow uses :meth:`from_config`)."""
        partial: dict[str, Any] = {key: values.pop(key) for key in cls.TOP_LEVEL if key in values}
        partial[cls.SECTION] = {key: _plain(value) for key, value in values.items()}
        return cls.from_config(load_stage_config(partial))

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any] | None) -> Self:
        """The settings of a (partial) configuration: see :func:`load_stage_config`."""
        return cls.from_config(load_stage_config(source))

    def to_dict(self) -> dict[str, Any]:
        """The settings as written in a configuration, JSON-ready."""
        result: dict[str, Any] = _plain(self)
        return result

    @classmethod
    def problems_in(cls, values: Mapping[str, Any]) -> list[str]:
        """What is wrong with ``values`` (the fields, valid against the schema) that the schema cannot say:
        relations between keys, each naming its key; the workflow's check and the constructor use it."""
        return []

    def __post_init__(self) -> None:
        problems = self.problems_in(self.to_dict())
        if problems:
            raise ConfigError(f"{type(self).__name__}: " + "; ".join(problems))


@dataclasses.dataclass(frozen=True)
class GenerateSettings(Settings):
    """Pythia8 + detector + FastJet generation (``generate``); a shard's process and seed come from the
    workflow's wildcards. Same settings, process and seed: the same jets."""

    SECTION: ClassVar[str] = "generate"

    shards: int
    jets_per_shard: int
    seed: int
    sqrt_s: float
    jet_r: float
    pt_min: float
    pt_max: float
    eta_max: float
    pthat_min: float | None
    pthat_max: float | None
    batch_events: int
    pythia: tuple[str, ...]
    #: a detector card (built-in name ``atlas`` or ``cms``, or a YAML file), or ``none`` for particle level
    detector: str

    @classmethod
    def problems_in(cls, values: Mapping[str, Any]) -> list[str]:
        problems = []
        if not values["pt_min"] < values["pt_max"]:
            problems.append(
                f"'generate.pt_min': {values['pt_min']} must be below generate.pt_max ({values['pt_max']})"
            )
        lo, hi = pthat_window(values)
        if not lo < hi:
            problems.append(f"'generate.pthat_min': {lo} must be below generate.pthat_max ({hi})")
        return problems

    @property
    def pthat_window(self) -> tuple[float, float]:
        """Pythia's pTHat window; by default 10% wider than the jet pT window on each side."""
        return pthat_window(self.to_dict())


@dataclasses.dataclass(frozen=True)
class IngestSettings(Settings):
    """Reading, checking and splitting input files (``ingest``, with the classes of the top level).

    ``multiclass``: each ``signal`` label is a class of its own (label i+1), the ``background`` labels
    together class 0; otherwise signal is 1 and background 0."""

    SECTION: ClassVar[str] = "ingest"
    TOP_LEVEL: ClassVar[tuple[str, ...]] = ("signal", "background", "multiclass")

    signal: tuple[str, ...]
    background: tuple[str, ...]
    multiclass: bool
    chunk_size: int
    splits: Mapping[str, float]
    split_seed: int
    #: ``hash``: per jet, by ``splits`` and ``split_seed``; ``file``: every jet to the split its file names
    split_by: str
    pt_min: float | None
    pt_max: float | None
    eta_max: float | None
    jet_r: float
    on_bad_file: str
    tree: str
    branch_map: Mapping[str, str]

    @classmethod
    def problems_in(cls, values: Mapping[str, Any]) -> list[str]:
        splits = dict(values["splits"])
        total = sum(splits.values())
        if abs(total - 1.0) > 1e-9:
            return [f"'ingest.splits': fractions {splits} add up to {total}, not 1"]
        return []

    @property
    def label_names(self) -> list[str]:
        """Class names by label value (:func:`jettag.jetclass.class_names`)."""
        from jettag.jetclass import class_names

        return class_names(self.signal, self.background, self.multiclass)


@dataclasses.dataclass(frozen=True)
class ImageSpec(Settings):
    """Jet-image size and the preprocessing steps to apply (``build.image``; see
    :mod:`jettag.features.images` for what each step does)."""

    SECTION: ClassVar[str] = "image"

    #: pixels per side
    size: int
    #: full width of the square window in (Delta eta, Delta phi), centred on the image centre
    extent: float
    #: translate so the pT-weighted centroid sits at the image centre
    centre: bool
    #: rotate so the principal axis of the pT-weighted covariance is vertical (along Delta eta, the rows)
    rotate: bool
    #: mirror rows and columns so the harder halves sit at positive Delta eta and positive Delta phi
    flip: bool
    #: scale each image to unit total intensity
    normalise: bool

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"ImageSpec.size must be an integer >= 1, got {self.size!r}")
        if isinstance(self.extent, bool) or not isinstance(self.extent, int | float):
            raise ValueError(f"ImageSpec.extent must be a finite number > 0, got {self.extent!r}")
        if not (math.isfinite(self.extent) and self.extent > 0):
            raise ValueError(f"ImageSpec.extent must be a finite number > 0, got {self.extent!r}")

    @classmethod
    def create(cls, **values: Any) -> Self:
        return BuildSettings.create(image=values).image  # type: ignore[return-value]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        return cls.from_dict(config["build"]["image"])


@dataclasses.dataclass(frozen=True)
class AugmentSpec(Settings):
    """Seeded, transformed copies of the training jets (``build.augment``; see
    :mod:`jettag.features.augment` for what each transformation does)."""

    SECTION: ClassVar[str] = "augment"

    #: copies of every training jet written beside it (0: no augmentation); validation and test never
    copies: int
    #: turn each copy about the jet axis in (Delta eta, Delta phi) by a uniform angle
    rotation: bool
    #: mirror Delta phi for half of the copies
    reflection: bool
    #: relative Gaussian smear of each constituent's four-momentum (0: none)
    energy_smear: float
    #: seed of the copies' random draws
    seed: int

    @classmethod
    def create(cls, **values: Any) -> Self:
        return BuildSettings.create(augment=values).augment  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class BuildSettings(Settings):
    """How sequences, images and high-level features are built (``build``); recorded with every output,
    so that a trained model's inputs can be built again the same way."""

    SECTION: ClassVar[str] = "build"
    NESTED: ClassVar[dict[str, type[Settings]]] = {"image": ImageSpec, "augment": AugmentSpec}

    max_length: int
    ordering: str
    with_pid: bool
    invariants: tuple[str, ...]
    balance: bool
    chunk_size: int
    image: ImageSpec
    augment: AugmentSpec


@dataclasses.dataclass(frozen=True)
class TrainSettings(Settings):
    """Which taggers are trained and how (``train``)."""

    SECTION: ClassVar[str] = "train"

    models: tuple[str, ...]
    model_dir: str
    seeds: tuple[int, ...]
    max_epochs: int
    patience: int
    batch_size: int
    lr: float
    weight_decay: float
    schedule: str
    gradient_clip_val: float | None
    bucket: bool
    num_workers: int
    threads: int
    accelerator: str
    devices: str | int | tuple[int, ...]
    strategy: str
    num_nodes: int
    precision: str | int | None
    streaming: bool
    shuffle_buffer: int

    def for_model(self, spec: Mapping[str, Any]) -> TrainSettings:
        """These settings with the ``train`` keys of a (validated) model configuration ``spec`` in place
        of the configuration's: a tagger's own learning rate, batch size and so on (its model file)."""
        own = spec.get("train") or {}
        if not own:
            return self
        # the schema's reading of the values (text such as "2e-3" as a number), as the configuration's
        checked = validate_schema({"train": dict(own)}, source=f"model {spec.get('name')!r}")["train"]
        return type(self).from_dict(self.to_dict() | {key: checked[key] for key in own})


@dataclasses.dataclass(frozen=True)
class EvaluateSettings(Settings):
    """Scoring the test split and the report's figures of merit (``evaluate``)."""

    SECTION: ClassVar[str] = "evaluate"

    signal_efficiencies: tuple[float, ...]
    bootstrap: int
    pt_bins: tuple[float, ...] | None
    batch_size: int


@dataclasses.dataclass(frozen=True)
class PredictSettings(Settings):
    """Applying trained taggers to files of your own (``predict``); the files are read with the ingest
    settings' ``tree``, ``branch_map`` and ``jet_r``."""

    SECTION: ClassVar[str] = "predict"

    inputs: tuple[str, ...]
    models: tuple[str, ...]
    format: str
    chunk_size: int


@dataclasses.dataclass(frozen=True)
class LearningCurveSettings(Settings):
    """The learning curve (``learning_curve``, ``snakemake learning_curve``): the training-split sizes it
    trains every tagger of ``train.models`` on, and the seeds of each training."""

    SECTION: ClassVar[str] = "learning_curve"

    #: training jets of each point: the first ``size`` jets of one fixed shuffled order of the training split
    sizes: tuple[int, ...]
    seeds: tuple[int, ...]
    #: optimizer steps every network takes at least, at every size (:meth:`train_at`)
    min_steps: int

    def train_at(self, size: int, build: BuildSettings, train: TrainSettings) -> dict[str, int]:
        """What changes in the ``train`` section at ``size`` recorded training jets: ``max_epochs``, that
        of ``train`` or more where that would take fewer than ``min_steps`` optimizer steps (batches of
        ``train.batch_size`` over the jets and their ``build.augment.copies``), and ``patience`` stretched
        by the same factor, so early stopping waits as many steps as at ``train.max_epochs``."""
        batches = math.ceil(size * (1 + build.augment.copies) / train.batch_size)
        epochs = max(train.max_epochs, math.ceil(self.min_steps / batches))
        patience = max(train.patience, math.ceil(train.patience * epochs / train.max_epochs))
        return {"max_epochs": epochs, "patience": patience}


@dataclasses.dataclass(frozen=True)
class TuneSettings(Settings):
    """The hyperparameter search of ``snakemake tune`` (``tune``): per tagger an Optuna study of
    ``trials`` trials over its ``space`` (:mod:`jettag.searchspace`), each trial trained with the ``build``
    and ``train`` settings of the configuration and the values the trial draws."""

    SECTION: ClassVar[str] = "tune"

    models: tuple[str, ...]
    trials: int
    timeout: float | None
    max_epochs: int
    seed: int
    random_trials: int
    baseline: bool
    pruner_startup_trials: int
    pruner_warmup_epochs: int
    #: the entries of each space, by model kind or model name
    space: Mapping[str, Sequence[Mapping[str, Any]]]

    @classmethod
    def problems_in(cls, values: Mapping[str, Any]) -> list[str]:
        return space_problems(values["space"])

    def entries(self, name: str, kind: str) -> tuple[str, Sequence[Mapping[str, Any]]]:
        """``(where, entries)`` of the space of the model ``name`` of ``kind``: its own, else its kind's."""
        for group in (name, kind):
            if group in self.space:
                return f"tune.space.{group}", self.space[group]
        raise ConfigError(
            f"config key 'tune.space' has no space for the model {name!r}: add tune.space.{name} or "
            f"tune.space.{kind} (spaces given: {', '.join(sorted(self.space)) or 'none'})"
        )


#: each stage's settings, by the configuration section they come from
STAGE_SETTINGS: dict[str, type[Settings]] = {
    cls.SECTION: cls
    for cls in (
        GenerateSettings,
        IngestSettings,
        BuildSettings,
        TrainSettings,
        EvaluateSettings,
        PredictSettings,
        LearningCurveSettings,
        TuneSettings,
    )
}


def pthat_window(generate: Mapping[str, Any]) -> tuple[float, float]:
    """Pythia's pTHat window of the ``generate`` settings: ``pthat_min`` and ``pthat_max``, by default 10%
    wider than the jet pT window on each side."""
    lo = generate["pthat_min"] if generate["pthat_min"] is not None else 0.9 * generate["pt_min"]
    hi = generate["pthat_max"] if generate["pthat_max"] is not None else 1.1 * generate["pt_max"]
    return lo, hi


def settings_json(config: Mapping[str, Any], *settings: type[Settings]) -> str:
    """The parts of a validated ``config`` that ``settings`` are built from, as one line of JSON (what a
    rule hands its command's ``--settings``, and Snakemake compares to rerun a job whose settings changed)."""
    keys: list[str] = []
    for cls in settings:
        keys += [*cls.TOP_LEVEL, cls.SECTION]
    # sorted keys: the same settings give the same text whatever the order the configuration wrote them in,
    # so a job is not run again for a reordered file
    return json.dumps({key: config[key] for key in keys}, separators=(",", ":"), sort_keys=True)
