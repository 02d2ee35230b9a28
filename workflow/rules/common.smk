"""Helpers shared by the stage files: which processes, seeds and files the configuration asks for, and each
stage's settings as one value (the validated section as JSON, jettag.settings), so a job reruns when its
settings change."""

import glob
import os
from pathlib import Path

import yaml

from snakemake.exceptions import WorkflowError

from jettag.config import learning_curve_problems, tune_problems
from jettag.jetclass import PROCESS_LABELS, SPLITS
from jettag.settings import (
    BuildSettings,
    EvaluateSettings,
    GenerateSettings,
    IngestSettings,
    LearningCurveSettings,
    PredictSettings,
    TrainSettings,
    TuneSettings,
    settings_json,
)

#: where `snakemake learning_curve` writes (workflow/rules/learning_curve.smk): the results directory, which
#: configs/learning_curve.yaml sets to results/learning_curve so that its larger sample never replaces
#: the main job's generated and ingested jets
LEARNING_CURVE = RESULTS


def stage_settings(*settings):
    """The ``--settings`` of a stage's command: the parts of the configuration ``settings`` are built from."""
    return settings_json(config, *settings)


def generated_processes():
    """Processes to generate: those whose label is a signal or background label."""
    wanted = set(config["signal"]) | set(config["background"])
    return [process for process, label in PROCESS_LABELS.items() if label in wanted]


def generated_seeds():
    first = config["generate"]["seed"]
    return list(range(first, first + config["generate"]["shards"]))


def generated_shards():
    """Every generated ROOT file the configuration asks for (none when `inputs` is given)."""
    if config["inputs"]:
        return []
    return expand(
        f"{RESULTS}/generate/{{process}}_seed{{seed}}.root",
        process=generated_processes(),
        seed=generated_seeds(),
    )


def detector_card():
    """The file of the configured detector card (a rule input, so a changed card makes new jets), or None."""
    from jettag.detector import card_path

    name = config["generate"]["detector"]
    return None if name == "none" else str(card_path(name))


def ingest_sources():
    """{name: file} of every file to ingest: the expanded `inputs` globs, or the generated shards."""
    if not config["inputs"]:
        return {
            f"{process}_seed{seed}": f"{RESULTS}/generate/{process}_seed{seed}.root"
            for process in generated_processes()
            for seed in generated_seeds()
        }
    sources = {}
    for pattern in config["inputs"]:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if not matches:
            raise WorkflowError(f"config key 'inputs': '{pattern}' matches no file")
        for path in matches:
            name = Path(path).stem
            if name in sources and sources[name] != path:
                raise WorkflowError(
                    f"config key 'inputs': {sources[name]} and {path} share the name '{name}'; rename one"
                )
            sources[name] = path
    return sources


def ingest_shards(split):
    return expand(f"{RESULTS}/ingest/{{name}}/{split}.arrow", name=list(ingest_sources()))


def trained_models():
    """Every training output the configuration asks for: one per model and seed."""
    return expand(
        f"{RESULTS}/train/{{model}}/seed{{seed}}/artefact.json",
        model=config["train"]["models"],
        seed=config["train"]["seeds"],
    )


def tune_studies():
    """Every study of `snakemake tune`. Stops the run before any job runs when a tagger of tune.models has
    no model file or no space (jettag.config.tune_problems)."""
    problems = tune_problems(config)
    if problems:
        raise WorkflowError("invalid configuration for the search\n  - " + "\n  - ".join(problems))
    return expand(f"{RESULTS}/tune/{{model}}/study.json", model=config["tune"]["models"])


def bdt_model_files():
    """The BDT's model file, <train.model_dir>/bdt.yaml, as a list: empty when there is none (the BDT then
    trains with jettag's arguments, jettag.train.bdt.DEFAULT_PARAMS)."""
    path = f"{config['train']['model_dir']}/bdt.yaml"
    return [path] if os.path.exists(path) else []


def bdt_model_option(wildcards, input):
    """`--model <file>` for `jettag train-bdt` when the BDT has a model file."""
    return f"--model {input.model}" if "model" in input.keys() else ""


def tuned_model(wildcards):
    """The model file a search of `snakemake tune` starts from, or bdt (jettag's BDT arguments)."""
    if wildcards.model == "bdt":
        return (bdt_model_files() or ["bdt"])[0]
    return f"{config['train']['model_dir']}/{wildcards.model}.yaml"


def evaluated_runs():
    """Every evaluation the configuration asks for: one per trained model and seed."""
    return expand(
        f"{RESULTS}/evaluate/{{model}}/seed{{seed}}/metrics.json",
        model=config["train"]["models"],
        seed=config["train"]["seeds"],
    )


def learning_curve_evaluations():
    """Every evaluation of the learning curve: each size, model and seed. Stops the run before any job runs
    when a size is beyond the training jets the configuration generates (jettag.config.learning_curve_problems)."""
    problems = learning_curve_problems(config)
    if problems:
        raise WorkflowError("invalid configuration for the learning curve\n  - " + "\n  - ".join(problems))
    settings = LearningCurveSettings.from_config(config)
    return expand(
        f"{LEARNING_CURVE}/n{{size}}/evaluate/{{model}}/seed{{seed}}/metrics.json",
        size=settings.sizes,
        model=config["train"]["models"],
        seed=settings.seeds,
    )


def learning_curve_train_settings(wildcards):
    """The train stage's --settings at one learning-curve size: the configuration's, with the epochs (and
    the early-stopping patience) that give at least learning_curve.min_steps optimizer steps
    (LearningCurveSettings.train_at)."""
    curve = LearningCurveSettings.from_config(config)
    changes = curve.train_at(
        int(wildcards.size), BuildSettings.from_config(config), TrainSettings.from_config(config)
    )
    return settings_json({**config, "train": {**config["train"], **changes}}, TrainSettings)


def learning_curve_shards(wildcards):
    """The ingest shards a split of one learning-curve size is built from: the size's subset for train, the
    whole split for val and test (the same jets at every size)."""
    if wildcards.split == "train":
        return [f"{LEARNING_CURVE}/n{wildcards.size}/ingest/train.arrow"]
    return ingest_shards(wildcards.split)


FIGURE_NAMES = [
    "roc",
    "pt_dependence",
    "mass_sculpting",
    "training_curves",
    "score_distributions",
    "gradient_reach",
    "dataset",
]


def report_figure(name, category):
    """A report figure's PNG, with its caption (workflow/report/<name>.rst) for `snakemake --report`."""
    return report(f"{RESULTS}/report/{name}.png", caption=f"../report/{name}.rst", category=category)


def ddp_launch(wildcards, resources):
    """The launcher of a multi-process training under Slurm: with an `mpi` resource (e.g. "srun", see the
    Slurm profile) one training process per task, as Lightning's DDP expects from its SLURM environment;
    without, nothing: Lightning starts the processes itself."""
    mpi = resources.get("mpi") if hasattr(resources, "get") else getattr(resources, "mpi", None)
    if not mpi:
        return ""
    nodes = resources.get("nodes", 1) or 1
    tasks = resources.get("tasks_per_node", 1) or 1
    cpus = resources.get("cpus_per_task", 1) or 1
    return f"{mpi} --nodes={nodes} --ntasks-per-node={tasks} --cpus-per-task={cpus}"


def require_slurm():
    """Stop before any submission when the Slurm cluster cannot be reached, saying what was tried."""
    import shutil
    import subprocess

    missing = [tool for tool in ("sbatch", "squeue", "sinfo", "scontrol") if shutil.which(tool) is None]
    if missing:
        raise WorkflowError(
            f"the slurm executor needs the Slurm client commands, but {', '.join(missing)} "
            "are not on PATH: run on a login node of your cluster (or load its Slurm module); "
            "nothing was submitted"
        )
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=60)
        answer = (ping.stdout + ping.stderr).strip()
        up = ping.returncode == 0 and "UP" in answer
    except subprocess.TimeoutExpired:
        answer, up = "no answer within 60 s", False
    if not up:
        raise WorkflowError(
            "the Slurm cluster is unreachable: its controller does not answer "
            f"(`scontrol ping`: {answer or 'no output'}); check SLURM_CONF and that slurmctld runs, "
            "then run again; nothing was submitted"
        )
