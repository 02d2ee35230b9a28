"""Helpers shared by the stage files: which processes, seeds and files the configuration asks for."""

import glob
import os
import shlex
from pathlib import Path

import yaml

from snakemake.exceptions import WorkflowError

from jettag.jetclass import PROCESS_LABELS


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


def generate_args():
    """`jettag generate` options from the `generate` section (per-shard values come from wildcards)."""
    gen = config["generate"]
    args = [
        f"--jets-per-shard {gen['jets_per_shard']}",
        f"--sqrt-s {gen['sqrt_s']}",
        f"--jet-r {gen['jet_r']}",
        f"--pt-min {gen['pt_min']}",
        f"--pt-max {gen['pt_max']}",
        f"--eta-max {gen['eta_max']}",
        f"--batch-events {gen['batch_events']}",
    ]
    for key in ("pthat_min", "pthat_max"):
        if gen[key] is not None:
            args.append(f"--{key.replace('_', '-')} {gen[key]}")
    args += [f"--pythia {shlex.quote(line)}" for line in gen["pythia"]]
    args.append(f"--detector {shlex.quote(detector_card() or 'none')}")
    return " ".join(args)


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


def ingest_args():
    """`jettag ingest` options from the top level and the `ingest` section of the configuration."""
    ing = config["ingest"]
    args = [
        "--signal " + " ".join(config["signal"]),
        "--background " + " ".join(config["background"]),
        f"--chunk-size {ing['chunk_size']}",
        "--splits " + " ".join(str(ing["splits"][s]) for s in ("train", "val", "test")),
        f"--split-seed {ing['split_seed']}",
        f"--split-by {ing['split_by']}",
        f"--jet-r {ing['jet_r']}",
        f"--on-bad-file {ing['on_bad_file']}",
        f"--tree {shlex.quote(ing['tree'])}",
    ]
    if config["multiclass"]:
        args.append("--multiclass")
    for key in ("pt_min", "pt_max", "eta_max"):
        if ing[key] is not None:
            args.append(f"--{key.replace('_', '-')} {ing[key]}")
    args += [f"--branch-map {shlex.quote(f'{k}={v}')}" for k, v in ing["branch_map"].items()]
    return " ".join(args)


def build_args(with_image=False):
    """`jettag fit-standardisation` / `jettag build` options from the `build` section."""
    b = config["build"]
    args = [f"--max-length {b['max_length']}", f"--ordering {b['ordering']}", f"--chunk-size {b['chunk_size']}"]
    if b["with_pid"]:
        args.append("--with-pid")
    if with_image:
        image = b["image"]
        args += [f"--image-size {image['size']}", f"--image-extent {image['extent']}"]
        args += [f"--no-{step}" for step in ("centre", "rotate", "flip", "normalise") if not image[step]]
        if b["balance"]:
            args.append("--balance")
    return " ".join(args)


def ingest_shards(split):
    return expand(f"{RESULTS}/ingest/{{name}}/{split}.arrow", name=list(ingest_sources()))


def trained_models():
    """Every training output the configuration asks for: one per model and seed."""
    return expand(
        f"{RESULTS}/train/{{model}}/seed{{seed}}/artefact.json",
        model=config["train"]["models"],
        seed=config["train"]["seeds"],
    )


def train_args():
    """`jettag train` options from the `train` section (model and seed come from wildcards)."""
    t = config["train"]
    args = [
        f"--max-epochs {t['max_epochs']}",
        f"--patience {t['patience']}",
        f"--batch-size {t['batch_size']}",
        f"--lr {t['lr']}",
        f"--weight-decay {t['weight_decay']}",
        f"--schedule {t['schedule']}",
        f"--gradient-clip-val {t['gradient_clip_val'] or 0}",
        f"--num-workers {t['num_workers']}",
        f"--accelerator {t['accelerator']}",
        f"--strategy {t['strategy']}",
        f"--num-nodes {t['num_nodes']}",
        f"--shuffle-buffer {t['shuffle_buffer']}",
    ]
    devices = t["devices"]
    args.append(f"--devices {','.join(map(str, devices)) if isinstance(devices, list) else devices}")
    if t["precision"] is not None:
        args.append(f"--precision {t['precision']}")
    if not t["bucket"]:
        args.append("--no-bucket")
    if not t["streaming"]:
        args.append("--no-streaming")
    return " ".join(args)


def evaluated_runs():
    """Every evaluation the configuration asks for: one per trained model and seed."""
    return expand(
        f"{RESULTS}/evaluate/{{model}}/seed{{seed}}/metrics.json",
        model=config["train"]["models"],
        seed=config["train"]["seeds"],
    )


def evaluate_args():
    """`jettag evaluate` options from the `evaluate` section."""
    e = config["evaluate"]
    efficiencies = " ".join(str(eps) for eps in e["signal_efficiencies"])
    return f"--signal-efficiencies {efficiencies} --bootstrap {e['bootstrap']} --batch-size {e['batch_size']}"


def report_args():
    """`jettag report` options from the `evaluate` section."""
    e = config["evaluate"]
    args = ["--signal-efficiencies " + " ".join(str(eps) for eps in e["signal_efficiencies"])]
    if e["pt_bins"] is not None:
        args.append("--pt-bins " + " ".join(str(edge) for edge in e["pt_bins"]))
    return " ".join(args)


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
