"""Helpers shared by the stage files: which processes, seeds and files the configuration asks for."""

import shlex

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
        f"{RESULTS}/generate/{{process}}/seed{{seed}}.root",
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
    return " ".join(args)
