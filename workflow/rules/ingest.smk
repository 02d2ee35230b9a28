"""Stage 2: each input file (or generated shard) becomes train / val / test shards (Arrow IPC), one job per file."""

rule ingest:
    input:
        lambda wildcards: ingest_sources()[wildcards.name],
    output:
        shards=expand(f"{RESULTS}/ingest/{{name}}/{{split}}.arrow", split=SPLITS, allow_missing=True),
        summary=f"{RESULTS}/ingest/{{name}}/summary.json",
    log:
        f"{RESULTS}/logs/ingest/{{name}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest/{{name}}.tsv"
    params:
        settings=stage_settings(IngestSettings),
        outdir=lambda wildcards: f"{RESULTS}/ingest/{wildcards.name}",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "jettag ingest --input {input} --output-dir {params.outdir} --summary {output.summary}"
        " --settings {params.settings:q} 2> {log}"


rule ingest_summary:
    input:
        expand(f"{RESULTS}/ingest/{{name}}/summary.json", name=list(ingest_sources())),
    output:
        f"{RESULTS}/ingest/summary.json",
    log:
        f"{RESULTS}/logs/ingest/summary.log",
    shell:
        "jettag summarize-ingest {input} --output {output} 2> {log}"
