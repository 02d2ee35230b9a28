"""The workflow configuration: the schema's checks (:mod:`jettag.schema`) and those that need more.

:func:`validate_config` is what the Snakefile and ``jettag check-config`` run before anything else: the
schema (types, ranges, unknown keys, defaults), then what relates keys to each other and to the files they
name (a pT window that is a window, labels that are branches of the inputs, model files that exist, ...).
Every message names the offending key. Each stage then takes its part as one settings object
(:mod:`jettag.settings`).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from jettag.extras import missing_extra
from jettag.jetclass import PROCESS_LABELS, all_branches
from jettag.schema import ConfigError, read_yaml, schema_problems
from jettag.settings import STAGE_SETTINGS, LearningCurveSettings

__all__ = ["ConfigError", "learning_curve_problems", "load_config", "read_yaml", "validate_config"]


def _semantic_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    gen = config["generate"]
    # the relations between keys that each stage's settings check themselves
    for cls in STAGE_SETTINGS.values():
        values = {key: config[key] for key in cls.TOP_LEVEL} | dict(config[cls.SECTION])
        problems += [f"config key {problem}" for problem in cls.problems_in(values)]
    if not config["inputs"] and gen["detector"] != "none":
        from jettag.detector import CardError, load_card

        try:
            load_card(gen["detector"])
        except CardError as err:
            problems.append(f"config key 'generate.detector': {err}")
    problems += _split_by_file_problems(config)
    lo, hi = config["ingest"]["pt_min"], config["ingest"]["pt_max"]
    if lo is not None and hi is not None and lo >= hi:
        problems.append(f"config key 'ingest.pt_min': {lo} must be below ingest.pt_max ({hi})")
    labels = [*config["signal"], *config["background"]]
    unknown = sorted(set(config["ingest"]["branch_map"]) - set(all_branches()) - set(labels))
    if unknown:
        problems.append(
            f"config key 'ingest.branch_map': {', '.join(unknown)} are neither JetClass branches nor labels "
            "of 'signal' or 'background'"
        )
    problems += _model_problems(config["train"])
    if not config["inputs"]:
        for role in ("signal", "background"):
            for label in config[role]:
                if label not in PROCESS_LABELS.values():
                    problems.append(
                        f"config key '{role}': '{label}' cannot be generated (jettag generates "
                        f"{', '.join(PROCESS_LABELS.values())}); give your files in 'inputs'"
                    )
    else:
        problems += _label_problems(config)
    overlap = sorted(set(config["signal"]) & set(config["background"]))
    if overlap:
        problems.append(
            f"config keys 'signal' and 'background' share {', '.join(overlap)}: a label belongs to one class"
        )
    if config["multiclass"] and len(config["signal"]) < 2:
        problems.append(
            f"config key 'multiclass': true needs at least two labels in 'signal' (got {config['signal']}); "
            "one signal label against the background is the binary tagger: set multiclass: false"
        )
    return problems + _predict_problems(config)


def _label_problems(config: dict[str, Any]) -> list[str]:
    """The labels of ``signal`` and ``background`` are branches of the inputs: checked on the first file of
    each ``inputs`` pattern (a typo shows there, and a run over thousands of files is not held up)."""
    from jettag.ingest.readers import label_problems

    problems = []
    for pattern in config["inputs"]:
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))  # noqa: PTH207
        if matches:
            problem = label_problems(
                matches[0],
                [*config["signal"], *config["background"]],
                config["ingest"]["branch_map"],
                config["ingest"]["tree"],
            )
            if problem:
                problems.append(f"config keys 'signal'/'background': {problem}")
    return problems


def _model_spec(model_dir: str, name: str, key: str) -> tuple[Path, Any, str | None]:
    """The model file of network ``name`` in ``model_dir``, its contents, and what is wrong with it (for
    config key ``key``), else None."""
    path = Path(model_dir) / f"{name}.yaml"
    if not path.is_file():
        return path, None, f"config key '{key}': no model file {path}"
    try:
        return path, read_yaml(path, "model configuration"), None
    except ConfigError as err:
        return path, None, f"config key '{key}': {err}"


def _model_problems(train: dict[str, Any]) -> list[str]:
    """Every network of ``train.models`` has its model file, and what its kind needs is installed."""
    problems = []
    for name in train["models"]:
        if name == "bdt":
            continue
        path, spec, problem = _model_spec(train["model_dir"], name, "train.models")
        if problem is not None:
            problems.append(problem)
            continue
        missing = missing_extra(spec.get("kind")) if isinstance(spec, dict) else None
        if missing is not None:
            problems.append(f"config key 'train.models': '{name}' ({path}): {missing}")
    return problems


def tune_problems(config: dict[str, Any]) -> list[str]:
    """What stops ``snakemake tune`` of a validated ``config`` before any job runs: a tagger of
    ``tune.models`` without its model file or without a space (by its name or its kind).

    Not part of :func:`validate_config`, which runs for every target: a main job whose ``train.model_dir``
    holds only its own taggers must not fail for the default ``tune.models``."""
    problems = []
    space = config["tune"]["space"]
    for name in config["tune"]["models"]:
        kind: Any = "bdt"
        if name != "bdt":
            _, spec, problem = _model_spec(config["train"]["model_dir"], name, "tune.models")
            if problem is not None:
                problems.append(problem)
                continue
            kind = spec.get("kind") if isinstance(spec, dict) else None
        if name not in space and kind not in space:
            problems.append(
                f"config key 'tune.space' has no space for the tagger {name!r} of tune.models: add "
                f"tune.space.{name}" + (f" or tune.space.{kind}" if kind != name else "")
            )
    return problems


def _split_by_file_problems(config: dict[str, Any]) -> list[str]:
    """With ``ingest.split_by: file`` each input file's name must say its split, and each split needs one."""
    if config["ingest"]["split_by"] != "file":
        return []
    if not config["inputs"]:
        return ["config key 'ingest.split_by': file needs `inputs` (generated shards are split by hash)"]
    from jettag.ingest.split import split_of_file
    from jettag.jetclass import SPLITS

    problems, seen = [], set()
    for pattern in config["inputs"]:
        # the workflow expands `inputs` the same way (absolute globs, which Path.glob does not take)
        for path in sorted(glob.glob(str(Path(pattern).expanduser()))):  # noqa: PTH207
            try:
                seen.add(split_of_file(path))
            except ValueError as err:
                problems.append(f"config key 'ingest.split_by': {err}")
    missing = [s for s in SPLITS if s not in seen]
    if seen and missing:
        problems.append(
            f"config key 'ingest.split_by': file, but no input file's name says {' or '.join(missing)}"
        )
    return problems


def _predict_problems(config: dict[str, Any]) -> list[str]:
    """The taggers ``predict.models`` names must be ones this configuration trains, and a prediction needs
    both files and taggers."""
    predict, train = config["predict"], config["train"]
    problems = []
    for item in predict["models"]:
        name, _, seed = item.partition("/seed")
        if name not in train["models"]:
            problems.append(
                f"config key 'predict.models': '{item}' is not a trained model "
                f"(train.models: {', '.join(train['models'])})"
            )
        elif seed and int(seed) not in train["seeds"]:
            problems.append(
                f"config key 'predict.models': '{item}' asks for seed {int(seed)}, which is not trained "
                f"(train.seeds: {', '.join(map(str, train['seeds']))})"
            )
    if predict["models"] and not predict["inputs"]:
        problems.append("config key 'predict.inputs' is empty: list the files predict.models should score")
    if predict["inputs"] and not predict["models"]:
        problems.append("config key 'predict.models' is empty: name the trained taggers for predict.inputs")
    return problems


def learning_curve_problems(config: dict[str, Any]) -> list[str]:
    """What stops the learning curve of a validated ``config`` before any job runs: a size beyond the
    training jets the generated sample can give (its jets times ``ingest.splits.train``; the split's real
    count differs from that by chance, and the subsetting checks it), or multi-class taggers.

    Not part of :func:`validate_config`: that runs for every target, and the default sizes go beyond the
    main job's training split. The workflow runs it when ``snakemake learning_curve`` is asked for. With
    ``inputs`` the training jets are known only once ingested; the subsetting says then."""
    settings = LearningCurveSettings.from_config(config)
    problems = []
    if config["multiclass"]:
        problems.append(
            "config key 'multiclass': the learning curve compares binary taggers against the BDT; "
            "run it with multiclass: false"
        )
    if config["inputs"]:
        return problems
    labels = {*config["signal"], *config["background"]}
    processes = [process for process, label in PROCESS_LABELS.items() if label in labels]
    generate, fraction = config["generate"], config["ingest"]["splits"]["train"]
    jets = len(processes) * generate["shards"] * generate["jets_per_shard"]
    expected = jets * fraction
    too_big = [size for size in settings.sizes if size > expected]
    if too_big:
        problems.append(
            f"config key 'learning_curve.sizes': {', '.join(map(str, sorted(too_big)))} training jets asked "
            f"for, but the generated jets give about {expected:.0f} ({len(processes)} processes x "
            f"generate.shards {generate['shards']} x generate.jets_per_shard {generate['jets_per_shard']} x "
            f"ingest.splits.train {fraction:g}); raise generate.shards or lower the sizes"
        )
    return problems


def validate_config(config: dict[str, Any], source: str | Path = "config") -> dict[str, Any]:
    """Validate ``config`` and return a copy with every default filled in.

    Raises :class:`ConfigError` listing each problem with the key it concerns.
    """
    if not isinstance(config, dict):
        raise ConfigError(
            f"{source}: the configuration must be a mapping of keys, got {type(config).__name__}"
        )
    config, problems = schema_problems(config)
    if not problems:
        problems = _semantic_problems(config)
    if problems:
        raise ConfigError(f"{source}: invalid configuration\n  - " + "\n  - ".join(problems))
    return config


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML configuration file and validate it."""
    return validate_config(read_yaml(path), source=path)
