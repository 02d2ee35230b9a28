"""Stage 3: standardisation fitted on the training split, then sequences, images and BDT features per split."""


rule fit_standardisation:
    input:
        lambda wildcards: ingest_shards("train"),
    output:
        f"{RESULTS}/build/standardisation.json",
    log:
        f"{RESULTS}/logs/build/standardisation.log",
    benchmark:
        f"{RESULTS}/benchmarks/build/standardisation.tsv"
    params:
        settings=stage_settings(BuildSettings),
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "jettag fit-standardisation {input} --output {output} --settings {params.settings:q} 2> {log}"


rule build:
    input:
        shards=lambda wildcards: ingest_shards(wildcards.split),
        standardisation=f"{RESULTS}/build/standardisation.json",
        ingest_summary=f"{RESULTS}/ingest/summary.json",
    output:
        sequences=f"{RESULTS}/build/{{split}}/sequences.arrow",
        images=f"{RESULTS}/build/{{split}}/images.arrow",
        highlevel=f"{RESULTS}/build/{{split}}/highlevel.arrow",
        summary=f"{RESULTS}/build/{{split}}/summary.json",
    log:
        f"{RESULTS}/logs/build/{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/build/{{split}}.tsv"
    wildcard_constraints:
        split="train|val|test",
    params:
        settings=stage_settings(BuildSettings),
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "jettag build {input.shards} --split {wildcards.split} --standardisation {input.standardisation}"
        " --ingest-summary {input.ingest_summary} --output-dir {params.outdir} --settings {params.settings:q}"
        " 2> {log}"
