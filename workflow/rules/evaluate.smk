"""Stage 5a: every trained tagger (every seed) scores the test split; scores are kept per jet with the
observers, so new plots need no rerun."""


rule evaluate:
    input:
        artefact=f"{RESULTS}/train/{{model}}/seed{{seed}}/artefact.json",
        shards=expand(f"{RESULTS}/build/test/{{output}}.arrow", output=["sequences", "images", "highlevel"]),
        train_summary=f"{RESULTS}/build/train/summary.json",
    output:
        scores=f"{RESULTS}/evaluate/{{model}}/seed{{seed}}/scores.parquet",
        metrics=f"{RESULTS}/evaluate/{{model}}/seed{{seed}}/metrics.json",
    log:
        f"{RESULTS}/logs/evaluate/{{model}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{model}}_seed{{seed}}.tsv"
    params:
        run_dir=lambda wildcards, input: os.path.dirname(input.artefact),
        build=lambda wildcards, input: os.path.dirname(os.path.dirname(input.train_summary)),
        outdir=lambda wildcards, output: os.path.dirname(output.scores),
        settings=stage_settings(EvaluateSettings),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "jettag evaluate --run-dir {params.run_dir} --build-dir {params.build} --output-dir {params.outdir}"
        " --threads {threads} --settings {params.settings:q} 2> {log}"
