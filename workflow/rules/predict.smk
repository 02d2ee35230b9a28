"""Apply trained taggers to files of your own: `snakemake predict` (config section `predict`).

One job per tagger and input file, so each output is a friend tree (or parquet file) of one input:
`{results}/predict/<model>/seed<N>/<file>.{root,parquet}`, and `<file>.json` beside it with the counts.
"""

from jettag.predict.writers import FORMATS as PREDICT_FORMATS


def predict_models():
    """(model, seed) for each entry of `predict.models`; "<model>" alone means the first seed of `train.seeds`."""
    pairs = []
    for item in config["predict"]["models"]:
        name, _, seed = item.partition("/seed")
        pair = (name, int(seed) if seed else config["train"]["seeds"][0])
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def predict_sources():
    """{name: file} of the files to score: the expanded `predict.inputs` globs, named by their file name."""
    sources = {}
    for pattern in config["predict"]["inputs"]:
        matches = sorted(glob.glob(os.path.expanduser(pattern)))
        if not matches:
            raise WorkflowError(f"config key 'predict.inputs': '{pattern}' matches no file")
        for path in matches:
            name = Path(path).stem
            if name in sources and sources[name] != path:
                raise WorkflowError(
                    f"config key 'predict.inputs': {sources[name]} and {path} share the name '{name}'; rename one"
                )
            sources[name] = path
    return sources


def predicted_files():
    """Every prediction the configuration asks for: one per tagger and input file."""
    suffix = PREDICT_FORMATS[config["predict"]["format"]]
    return [
        f"{RESULTS}/predict/{model}/seed{seed}/{name}{suffix}"
        for model, seed in predict_models()
        for name in predict_sources()
    ]


def predict_args():
    """`jettag predict` options from the `predict` section, and the reading options of `ingest`."""
    ing = config["ingest"]
    args = [
        f"--format {config['predict']['format']}",
        f"--chunk-size {config['predict']['chunk_size']}",
        f"--tree {shlex.quote(ing['tree'])}",
        f"--jet-r {ing['jet_r']}",
    ]
    args += [f"--branch-map {shlex.quote(f'{k}={v}')}" for k, v in ing["branch_map"].items()]
    return " ".join(args)


rule predict_file:
    input:
        artefact=f"{RESULTS}/train/{{model}}/seed{{seed}}/artefact.json",
        data=lambda wildcards: predict_sources()[wildcards.name],
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
        args=predict_args(),
        model=lambda wildcards, input: os.path.dirname(input.artefact),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "jettag predict --model {params.model} --input {input.data:q} --output {output.scores}"
        " --summary {output.summary} --threads {threads} {params.args} 2> {log}"


rule predict:
    input:
        lambda wildcards: predicted_files(),
