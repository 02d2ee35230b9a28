"""Apply trained taggers to files of your own: `snakemake predict` (config section `predict`).

One job per tagger and input file, so each output is a friend tree (or parquet file) of one input:
`{results}/predict/<model>/seed<N>/<file>.{root,parquet}`, and `<file>.json` beside it with the counts.
The helpers that read the configuration are in jettag.predict.workflow.
"""

import jettag.predict.workflow as predict_workflow
from jettag.predict.writers import FORMATS as PREDICT_FORMATS


rule predict_file:
    input:
        artefact=f"{RESULTS}/train/{{model}}/seed{{seed}}/artefact.json",
        data=lambda wildcards: predict_workflow.predict_sources(config)[wildcards.name],
    output:
        scores=f"{RESULTS}/predict/{{model}}/seed{{seed}}/{{name}}{PREDICT_FORMATS[config['predict']['format']]}",
        summary=f"{RESULTS}/predict/{{model}}/seed{{seed}}/{{name}}.json",
    log:
        f"{RESULTS}/logs/predict/{{model}}_seed{{seed}}/{{name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict/{{model}}_seed{{seed}}/{{name}}.tsv"
    wildcard_constraints:
        model="[A-Za-z0-9_-]+",
        seed=r"\d+",
        name="[^/]+",
    params:
        settings=stage_settings(PredictSettings, IngestSettings, EvaluateSettings),
        model=lambda wildcards, input: os.path.dirname(input.artefact),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "jettag predict --model {params.model} --input {input.data:q} --output {output.scores}"
        " --summary {output.summary} --threads {threads} --settings {params.settings:q} 2> {log}"


rule predict:
    input:
        lambda wildcards: predict_workflow.predicted_files(config, RESULTS),
