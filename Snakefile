"""jettag: generate (or take your own) jets, build constituent sequences, train taggers, report ROCs.

Run `snakemake --cores all` for the main job on configs/default.yaml (it ends in results/report/);
`--configfile configs/smoke.yaml` for a tiny run. The configuration is validated against workflow/schemas/config.schema.yaml first.
"""

from snakemake.utils import min_version

from jettag.config import validate_config

min_version("9.0")


configfile: "configs/default.yaml"


config.update(validate_config(config, source="workflow configuration"))
RESULTS = config["results"]


include: "workflow/rules/common.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/build.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/learning_curve.smk"
include: "workflow/rules/tune.smk"


rule all:
    input:
        f"{RESULTS}/ingest/summary.json",
        expand(f"{RESULTS}/build/{{split}}/summary.json", split=SPLITS),
        trained_models(),
        f"{RESULTS}/report/metrics.json",
        f"{RESULTS}/report/report.html",
    default_target: True


rule tune:
    """`snakemake tune`: search every tagger of tune.models (results/tune/summary.md)."""
    input:
        f"{RESULTS}/tune/summary.md",


onstart:
    # under the Slurm executor, an unreachable cluster stops the run here with a clear message
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        require_slurm()
