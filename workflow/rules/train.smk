"""Stage 4: every tagger trained once per seed; networks with Lightning (resuming from their last
checkpoint after an interruption), the BDT with scikit-learn."""

BUILD_OUTPUTS = expand(
    f"{RESULTS}/build/{{split}}/{{output}}.arrow",
    split=SPLITS,
    output=["sequences", "images", "highlevel"],
)


rule train_bdt:
    input:
        BUILD_OUTPUTS,
        expand(f"{RESULTS}/build/{{split}}/summary.json", split=SPLITS),
        standardisation=f"{RESULTS}/build/standardisation.json",
        **{"model": path for path in bdt_model_files()},
    output:
        model=f"{RESULTS}/train/bdt/seed{{seed}}/bdt.json",
        artefact=f"{RESULTS}/train/bdt/seed{{seed}}/artefact.json",
    log:
        f"{RESULTS}/logs/train/bdt_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/bdt_seed{{seed}}.tsv"
    params:
        build=lambda wildcards, input: os.path.dirname(input.standardisation),
        outdir=lambda wildcards, output: os.path.dirname(output.artefact),
        model=bdt_model_option,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "jettag train-bdt --build-dir {params.build} --output-dir {params.outdir} --seed {wildcards.seed}"
        " --threads {threads} {params.model} 2> {log}"


rule train:
    input:
        BUILD_OUTPUTS,
        expand(f"{RESULTS}/build/{{split}}/summary.json", split=SPLITS),
        standardisation=f"{RESULTS}/build/standardisation.json",
        model=f"{config['train']['model_dir']}/{{model}}.yaml",
    output:
        model=f"{RESULTS}/train/{{model}}/seed{{seed}}/model.pt",
        artefact=f"{RESULTS}/train/{{model}}/seed{{seed}}/artefact.json",
    log:
        f"{RESULTS}/logs/train/{{model}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{model}}_seed{{seed}}.tsv"
    wildcard_constraints:
        # not the BDT (rule train_bdt): "bdt" not followed by more of a name
        model="(?!bdt(?![A-Za-z0-9_-]))[A-Za-z0-9_-]+",
    params:
        settings=stage_settings(TrainSettings),
        launch=ddp_launch,
        build=lambda wildcards, input: os.path.dirname(input.standardisation),
        outdir=lambda wildcards, output: os.path.dirname(output.artefact),
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=240,
    shell:
        "{params.launch} jettag train --model {input.model} --build-dir {params.build} --output-dir {params.outdir}"
        " --seed {wildcards.seed} --settings {params.settings:q} 2> {log}"
