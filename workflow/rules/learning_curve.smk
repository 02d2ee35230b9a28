"""The learning curve: `snakemake learning_curve` (config section `learning_curve`, settings in
jettag.settings.LearningCurveSettings; the helpers in common.smk).

Every tagger of train.models is trained at every size of learning_curve.sizes with every seed of
learning_curve.seeds by the build, train and evaluate rules themselves (`use rule`: the same commands,
threads and resources), on paths of their own. A size N is the wildcard `size`, the directory n<N>:

    {results}/n<N>/ingest/     train.arrow: the first N training jets (jettag subset-train),
                                              summary.json: the dataset with them as its training split
    {results}/n<N>/build/      the standardisation fitted on them; the three splits built
    {results}/n<N>/train/      <model>/seed<S>/, as {results}/train/
    {results}/n<N>/evaluate/   <model>/seed<S>/, as {results}/evaluate/
    {results}/                 learning_curve.json, .png, .pdf and report.html

The subsets are nested (the first N jets of one fixed shuffled order of the training split); validation
and test are the same ingested jets at every size.
"""

wildcard_constraints:
    size=r"\d+",


rule learning_curve_subset:
    input:
        shards=lambda wildcards: ingest_shards("train"),
        summary=f"{RESULTS}/ingest/summary.json",
    output:
        shard=f"{LEARNING_CURVE}/n{{size}}/ingest/train.arrow",
        summary=f"{LEARNING_CURVE}/n{{size}}/ingest/summary.json",
    log:
        f"{RESULTS}/logs/learning_curve/n{{size}}/subset.log",
    benchmark:
        f"{RESULTS}/benchmarks/learning_curve/n{{size}}/subset.tsv"
    params:
        settings=stage_settings(IngestSettings),
        outdir=lambda wildcards, output: os.path.dirname(output.summary),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "jettag subset-train {input.shards} --size {wildcards.size} --ingest-summary {input.summary}"
        " --output-dir {params.outdir} --settings {params.settings:q} 2> {log}"


use rule fit_standardisation as learning_curve_standardisation with:
    input:
        f"{LEARNING_CURVE}/n{{size}}/ingest/train.arrow",
    output:
        f"{LEARNING_CURVE}/n{{size}}/build/standardisation.json",
    log:
        f"{RESULTS}/logs/learning_curve/n{{size}}/build/standardisation.log",
    benchmark:
        f"{RESULTS}/benchmarks/learning_curve/n{{size}}/build/standardisation.tsv"


use rule build as learning_curve_build with:
    input:
        shards=learning_curve_shards,
        standardisation=f"{LEARNING_CURVE}/n{{size}}/build/standardisation.json",
        ingest_summary=f"{LEARNING_CURVE}/n{{size}}/ingest/summary.json",
    output:
        sequences=f"{LEARNING_CURVE}/n{{size}}/build/{{split}}/sequences.arrow",
        images=f"{LEARNING_CURVE}/n{{size}}/build/{{split}}/images.arrow",
        highlevel=f"{LEARNING_CURVE}/n{{size}}/build/{{split}}/highlevel.arrow",
        summary=f"{LEARNING_CURVE}/n{{size}}/build/{{split}}/summary.json",
    log:
        f"{RESULTS}/logs/learning_curve/n{{size}}/build/{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/learning_curve/n{{size}}/build/{{split}}.tsv"


#: everything a training at one size reads from its build (the size left as a wildcard)
LEARNING_CURVE_BUILD = expand(
    f"{LEARNING_CURVE}/n{{{{size}}}}/build/{{split}}/{{output}}",
    split=SPLITS,
    output=["sequences.arrow", "images.arrow", "highlevel.arrow", "summary.json"],
)


use rule train_bdt as learning_curve_train_bdt with:
    input:
        LEARNING_CURVE_BUILD,
        standardisation=f"{LEARNING_CURVE}/n{{size}}/build/standardisation.json",
        **{"model": path for path in bdt_model_files()},
    output:
        model=f"{LEARNING_CURVE}/n{{size}}/train/bdt/seed{{seed}}/bdt.json",
        artefact=f"{LEARNING_CURVE}/n{{size}}/train/bdt/seed{{seed}}/artefact.json",
    log:
        f"{RESULTS}/logs/learning_curve/n{{size}}/train/bdt_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/learning_curve/n{{size}}/train/bdt_seed{{seed}}.tsv"


use rule train as learning_curve_train with:
    input:
        LEARNING_CURVE_BUILD,
        standardisation=f"{LEARNING_CURVE}/n{{size}}/build/standardisation.json",
        model=f"{config['train']['model_dir']}/{{model}}.yaml",
    params:
        # the size's epochs: at least learning_curve.min_steps optimizer steps at every size
        settings=learning_curve_train_settings,
    output:
        model=f"{LEARNING_CURVE}/n{{size}}/train/{{model}}/seed{{seed}}/model.pt",
        artefact=f"{LEARNING_CURVE}/n{{size}}/train/{{model}}/seed{{seed}}/artefact.json",
    log:
        f"{RESULTS}/logs/learning_curve/n{{size}}/train/{{model}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/learning_curve/n{{size}}/train/{{model}}_seed{{seed}}.tsv"


use rule evaluate as learning_curve_evaluate with:
    input:
        artefact=f"{LEARNING_CURVE}/n{{size}}/train/{{model}}/seed{{seed}}/artefact.json",
        shards=expand(
            f"{LEARNING_CURVE}/n{{{{size}}}}/build/test/{{output}}.arrow",
            output=["sequences", "images", "highlevel"],
        ),
        train_summary=f"{LEARNING_CURVE}/n{{size}}/build/train/summary.json",
    output:
        scores=f"{LEARNING_CURVE}/n{{size}}/evaluate/{{model}}/seed{{seed}}/scores.parquet",
        metrics=f"{LEARNING_CURVE}/n{{size}}/evaluate/{{model}}/seed{{seed}}/metrics.json",
    log:
        f"{RESULTS}/logs/learning_curve/n{{size}}/evaluate/{{model}}_seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/learning_curve/n{{size}}/evaluate/{{model}}_seed{{seed}}.tsv"


rule learning_curve_report:
    input:
        evaluations=lambda wildcards: learning_curve_evaluations(),
    output:
        curve=f"{LEARNING_CURVE}/learning_curve.json",
        figure=report(
            f"{LEARNING_CURVE}/learning_curve.png",
            caption="../report/learning_curve.rst",
            category="Learning curve",
        ),
        pdf=f"{LEARNING_CURVE}/learning_curve.pdf",
        html=report(
            f"{LEARNING_CURVE}/report.html",
            caption="../report/learning_curve_report.rst",
            category="Learning curve",
        ),
    log:
        f"{RESULTS}/logs/learning_curve/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/learning_curve/report.tsv"
    params:
        evaluations=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.evaluations),
        outdir=lambda wildcards, output: os.path.dirname(output.curve),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "jettag learning-curve --evaluations {params.evaluations} --output-dir {params.outdir} 2> {log}"


rule learning_curve:
    input:
        rules.learning_curve_report.output,
