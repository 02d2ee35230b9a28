"""`snakemake tune`: the hyperparameter search, one job per tagger of tune.models (its Optuna study runs
its trials one after the other and resumes from results/tune/<model>/study.journal when run again), on the
main job's ingest shards; the builds the trials need are made once each under results/tune/builds/."""


rule tune_model:
    input:
        shards=lambda wildcards: [shard for split in SPLITS for shard in ingest_shards(split)],
        ingest_summary=f"{RESULTS}/ingest/summary.json",
        model=lambda wildcards: [path for path in [tuned_model(wildcards)] if path != "bdt"],
    output:
        best=f"{RESULTS}/tune/{{model}}/best.yaml",
        settings=f"{RESULTS}/tune/{{model}}/best_settings.yaml",
        trials=f"{RESULTS}/tune/{{model}}/trials.csv",
        study=f"{RESULTS}/tune/{{model}}/study.json",
    log:
        f"{RESULTS}/logs/tune/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tune/{{model}}.tsv"
    wildcard_constraints:
        model="[A-Za-z0-9_-]+",
    params:
        settings=stage_settings(TuneSettings, BuildSettings, TrainSettings),
        model=tuned_model,
        outdir=lambda wildcards: f"{RESULTS}/tune/{wildcards.model}",
        builds=f"{RESULTS}/tune/builds",
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=24 * 60,
    shell:
        "jettag tune --model {params.model} --shards {input.shards} --ingest-summary {input.ingest_summary}"
        " --output-dir {params.outdir} --builds-dir {params.builds} --settings {params.settings:q} 2> {log}"


rule tune_summary:
    input:
        lambda wildcards: tune_studies(),
    output:
        f"{RESULTS}/tune/summary.md",
    log:
        f"{RESULTS}/logs/tune/summary.log",
    shell:
        "jettag tune-summary {input} --output {output} > /dev/null 2> {log}"
