"""Stage 1: Pythia8 + FastJet jets in the JetClass ROOT schema, one job per process and seed."""


rule generate:
    input:
        card=lambda wildcards: detector_card() or [],
    output:
        root=f"{RESULTS}/generate/{{process}}_seed{{seed}}.root",
        summary=f"{RESULTS}/generate/{{process}}_seed{{seed}}.json",
    log:
        f"{RESULTS}/logs/generate/{{process}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/generate/{{process}}_seed{{seed}}.tsv"
    wildcard_constraints:
        process="|".join(PROCESS_LABELS),
        seed=r"\d+",
    params:
        settings=stage_settings(GenerateSettings),
    threads: 1
    resources:
        mem_mb=2000,
        # about 40 jets/s per core, with a wide margin
        runtime=lambda wildcards: 10 + config["generate"]["jets_per_shard"] // 600,
    shell:
        "jettag generate --process {wildcards.process} --seed {wildcards.seed}"
        " --output {output.root} --summary {output.summary} --settings {params.settings:q} 2> {log}"
