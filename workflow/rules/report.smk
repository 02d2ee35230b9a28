"""Stage 5b: metrics.json, the figures and report.html from every evaluated run; the figures also go into
Snakemake's own report (`snakemake --report report.zip`) with the captions in workflow/report/."""

# writing one small file is not worth a cluster job
localrules:
    resolved_config,


rule resolved_config:
    output:
        f"{RESULTS}/report/config.yaml",
    log:
        f"{RESULTS}/logs/report/config.log",
    run:
        # the configuration as validated, defaults filled in: the report's provenance
        Path(output[0]).write_text(yaml.safe_dump(dict(config), sort_keys=False))


rule report:
    input:
        evaluations=evaluated_runs(),
        ingest=f"{RESULTS}/ingest/summary.json",
        builds=expand(f"{RESULTS}/build/{{split}}/summary.json", split=SPLITS),
        config=f"{RESULTS}/report/config.yaml",
        generated=lambda wildcards: [p.replace(".root", ".json") for p in generated_shards()],
    output:
        metrics=f"{RESULTS}/report/metrics.json",
        html=report(f"{RESULTS}/report/report.html", caption="../report/report.rst", category="Report"),
        roc=report_figure("roc", "Performance"),
        pt=report_figure("pt_dependence", "Performance"),
        sculpting=report_figure("mass_sculpting", "Physics"),
        curves=report_figure("training_curves", "Training"),
        scores=report_figure("score_distributions", "Performance"),
        reach=report_figure("gradient_reach", "Training"),
        dataset=report_figure("dataset", "Dataset"),
        pdfs=expand(f"{RESULTS}/report/{{name}}.pdf", name=FIGURE_NAMES),
    log:
        f"{RESULTS}/logs/report/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/report.tsv"
    params:
        evaluations=lambda wildcards, input: " ".join(os.path.dirname(p) for p in input.evaluations),
        outdir=lambda wildcards, output: os.path.dirname(output.metrics),
        settings=stage_settings(EvaluateSettings),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "jettag report --evaluations {params.evaluations} --output-dir {params.outdir}"
        " --ingest-summary {input.ingest} --build-summaries {input.builds} --config {input.config}"
        " --generate-summaries {input.generated}"
        " --settings {params.settings:q} 2> {log}"
