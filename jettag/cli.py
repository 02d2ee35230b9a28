"""The ``jettag`` command: one subcommand per workflow stage, so every stage also runs without Snakemake.

Flags name paths and wildcards only; everything the configuration sets comes in as ``--settings`` (a
YAML or JSON file, or JSON text: any part of a workflow configuration, the schema's defaults for the rest),
which the workflow's rules fill with their validated section (:mod:`jettag.settings`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jettag import __version__
from jettag.jetclass import PROCESS_LABELS, SPLITS
from jettag.predict.commands import add_parsers as add_predict_parsers

if TYPE_CHECKING:
    from jettag.settings import Settings

__all__ = ["main"]

log = logging.getLogger("jettag")


def _add_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--settings",
        metavar="FILE_OR_JSON",
        help="the stage's settings: a YAML or JSON file, or JSON text, holding any part of a workflow "
        "configuration (configs/default.yaml); what it leaves out takes the schema's default",
    )


def _settings(args: argparse.Namespace, cls: type[Settings]) -> Any:
    return cls.load(args.settings)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="generate one shard of top, W, Z or QCD jets with Pythia8 + FastJet into a JetClass ROOT file",
        description="Generate one shard of anti-kt jets into a JetClass-schema ROOT file.",
    )
    p.add_argument(
        "--process", required=True, choices=sorted(PROCESS_LABELS), help="JetClass class to generate"
    )
    p.add_argument(
        "--seed", required=True, type=int, help="Pythia seed (1..900000000); fixes the shard exactly"
    )
    p.add_argument("--output", required=True, help="ROOT file to write")
    p.add_argument("--summary", help="JSON file for the counts (events, jets kept and dropped, rates)")
    _add_settings(p)
    p.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> None:
    from jettag.generate import generate_shard
    from jettag.settings import GenerateSettings

    settings = _settings(args, GenerateSettings)
    result = generate_shard(args.process, args.seed, settings, args.output, args.summary)
    log.info("wrote %s: %s", args.output, result["counts"])


def _add_ingest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="read one ROOT / TopLandscape file into train, val and test shards (Arrow IPC)",
        description="Validate, split and write the jets of one input file; bad jets are dropped and counted.",
    )
    p.add_argument("--input", required=True, help="ROOT (.root), TopLandscape HDF5 (.h5) or parquet file")
    p.add_argument("--output-dir", required=True, help="directory for train.arrow, val.arrow, test.arrow")
    p.add_argument("--summary", help="JSON file for the counts (read, kept, dropped by reason, per split)")
    _add_settings(p)
    p.set_defaults(func=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> None:
    from pathlib import Path

    from jettag.ingest import ingest_file
    from jettag.settings import IngestSettings

    outputs = {split: Path(args.output_dir) / f"{split}.arrow" for split in SPLITS}
    result = ingest_file(args.input, outputs, _settings(args, IngestSettings), args.summary)
    log.info(
        "%s: read %d, kept %d, dropped %s",
        args.input,
        result["jets_read"],
        result["jets_kept"],
        result["dropped"],
    )


def _add_summarize_ingest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summarize-ingest", help="add up the per-file ingest summaries into one dataset summary"
    )
    p.add_argument("summaries", nargs="+", help="per-file JSON summaries of `jettag ingest`")
    p.add_argument("--output", required=True, help="JSON file to write")
    p.set_defaults(func=_run_summarize_ingest)


def _run_summarize_ingest(args: argparse.Namespace) -> None:
    from jettag.ingest.summary import summarize

    summarize(args.summaries, args.output)


def _add_subset_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "subset-train",
        help="the first N jets of the training split in a fixed shuffled order (the learning curve's sets)",
        description="Write OUTPUT_DIR/train.arrow, the first SIZE jets of the training split's ingest "
        "shards in one fixed shuffled order (so smaller subsets lie inside larger ones), and "
        "OUTPUT_DIR/summary.json, the dataset summary with the subset's counts.",
    )
    p.add_argument("shards", nargs="+", help="training-split shards of `jettag ingest`")
    p.add_argument("--size", required=True, type=int, help="jets in the subset (one of learning_curve.sizes)")
    p.add_argument("--output-dir", required=True, help="directory for train.arrow and summary.json")
    p.add_argument("--ingest-summary", help="dataset summary of `jettag summarize-ingest` (classes, counts)")
    _add_settings(p)
    p.set_defaults(func=_run_subset_train)


def _run_subset_train(args: argparse.Namespace) -> None:
    from jettag.ingest.subset import subset_train_split
    from jettag.settings import IngestSettings

    settings = _settings(args, IngestSettings)
    result = subset_train_split(
        args.shards, args.size, args.output_dir, args.ingest_summary, chunk_size=settings.chunk_size
    )
    log.info("training subset: %s", {k: result["subset"][k] for k in ("jets_in", "jets_out", "dropped")})


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-standardisation",
        help="fit the feature standardisation on the training shards",
        description="Fit mean and std of each constituent feature on the training split; write them as JSON.",
    )
    p.add_argument("shards", nargs="+", help="training-split shards of `jettag ingest`")
    p.add_argument("--output", required=True, help="JSON file to write")
    _add_settings(p)
    p.set_defaults(func=_run_fit_standardisation)

    p = sub.add_parser(
        "build",
        help="build sequences, jet images and high-level features of one split",
        description="Standardised constituent sequences, jet images and BDT features of one split.",
    )
    p.add_argument("shards", nargs="*", help="shards of the split, from `jettag ingest`")
    p.add_argument("--split", required=True, choices=SPLITS)
    p.add_argument("--standardisation", required=True, help="JSON of `jettag fit-standardisation`")
    p.add_argument("--output-dir", required=True, help="directory for sequences, images and highlevel.arrow")
    p.add_argument(
        "--ingest-summary", help="dataset summary of `jettag summarize-ingest` (needed by build.balance)"
    )
    _add_settings(p)
    p.set_defaults(func=_run_build)


def _run_fit_standardisation(args: argparse.Namespace) -> None:
    from jettag.features import fit_standardisation
    from jettag.settings import BuildSettings

    std = fit_standardisation(args.shards, _settings(args, BuildSettings), args.output)
    log.info("standardisation of %s written to %s", ", ".join(std.names), args.output)


def _run_build(args: argparse.Namespace) -> None:
    from jettag.features import build_split
    from jettag.settings import BuildSettings

    result = build_split(
        args.split,
        args.shards,
        args.standardisation,
        _settings(args, BuildSettings),
        args.output_dir,
        args.ingest_summary,
    )
    log.info(
        "%s: %d jets in, %d out, dropped %s",
        args.split,
        result["jets_in"],
        result["jets_out"],
        result["dropped"],
    )


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one network tagger (LSTM, GRU, RNN, CNN, PFN, ParticleNet) with Lightning",
        description="Train one tagger for one seed; resumes from OUTPUT_DIR/last.ckpt when it exists.",
    )
    p.add_argument("--model", required=True, help="model configuration file (configs/models/*.yaml)")
    p.add_argument(
        "--build-dir", required=True, help="the build stage's directory (train/, val/, summary files)"
    )
    p.add_argument(
        "--output-dir", required=True, help="directory for checkpoints, logs, model.pt, artefact.json"
    )
    p.add_argument("--seed", type=int, required=True)
    _add_settings(p)
    p.set_defaults(func=_run_train)

    p = sub.add_parser("train-bdt", help="train the BDT baseline on the high-level features")
    p.add_argument("--build-dir", required=True, help="the build stage's directory")
    p.add_argument("--output-dir", required=True, help="directory for bdt.json and artefact.json")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for scikit-learn's fit")
    p.add_argument(
        "--model",
        help="the BDT's model file (kind: bdt and HistGradientBoostingClassifier arguments, e.g. "
        "configs/models/bdt.yaml or a search's best.yaml); default: jettag's arguments",
    )
    p.set_defaults(func=_run_train_bdt)


def _run_train(args: argparse.Namespace) -> None:
    from jettag.settings import TrainSettings
    from jettag.train import train_run

    train_run(args.model, args.build_dir, args.output_dir, args.seed, _settings(args, TrainSettings))


def _run_train_bdt(args: argparse.Namespace) -> None:
    from jettag.train.bdt import train_bdt_run

    metrics = train_bdt_run(args.build_dir, args.output_dir, args.seed, args.threads, args.model)
    log.info("bdt seed %d: %s", args.seed, metrics)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score the test split with one trained tagger: per-jet scores and figures of merit",
        description="Write OUTPUT_DIR/scores.parquet (score and observers per jet) and metrics.json.",
    )
    p.add_argument("--run-dir", required=True, help="the training directory (artefact.json inside)")
    p.add_argument("--build-dir", required=True, help="the build stage's directory")
    p.add_argument("--output-dir", required=True, help="directory for scores.parquet and metrics.json")
    p.add_argument("--split", default="test", choices=SPLITS)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    _add_settings(p)
    p.set_defaults(func=_run_evaluate)

    p = sub.add_parser(
        "report",
        help="gather the evaluated runs into metrics.json, figures and report.html",
        description="Write OUTPUT_DIR/metrics.json, the figures (PNG and PDF) and report.html.",
    )
    p.add_argument("--evaluations", nargs="+", required=True, help="the evaluate stage's run directories")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--ingest-summary", help="the ingest stage's summary.json (dataset counts)")
    p.add_argument("--build-summaries", nargs="*", default=[], help="the build stage's summary.json files")
    p.add_argument("--config", help="the workflow configuration, for the provenance")
    p.add_argument(
        "--generate-summaries",
        nargs="*",
        default=[],
        help="the generate stage's JSON summaries, for the detector card's name and hash in the provenance",
    )
    _add_settings(p)
    p.set_defaults(func=_run_report)


def _add_learning_curve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "learning-curve",
        help="test AUC and rejection against training jets, power-law fits, where networks pass the BDT",
        description="Write OUTPUT_DIR/learning_curve.json, learning_curve.png and .pdf and report.html from "
        "the evaluations of every tagger, training-set size and seed.",
    )
    p.add_argument(
        "--evaluations", nargs="+", required=True, help="the evaluate stage's run directories, every size"
    )
    p.add_argument("--output-dir", required=True)
    p.set_defaults(func=_run_learning_curve)


def _run_learning_curve(args: argparse.Namespace) -> None:
    from jettag.report.learning_curve import passing_label, write_learning_curve

    curve = write_learning_curve(args.evaluations, args.output_dir)
    for name, entry in curve["taggers"].items():
        fit = entry["fit"]
        shown = "no fit" if fit is None else f"1 - AUC = {fit['a']:.3g} N^-{fit['b']:.3g} + {fit['c']:.3g}"
        passes = f"; {passing_label(entry['passes_bdt'])}" if "passes_bdt" in entry else ""
        log.info("%s: %s%s", name, shown, passes)


def _run_evaluate(args: argparse.Namespace) -> None:
    from jettag.evaluate import evaluate_run
    from jettag.settings import EvaluateSettings

    metrics = evaluate_run(
        args.run_dir,
        args.build_dir,
        args.output_dir,
        _settings(args, EvaluateSettings),
        split=args.split,
        threads=args.threads,
    )
    test = metrics["test"]
    for cls, fom in test.get("per_class", {None: test}).items():
        shown = metrics["model"] if cls is None else f"{metrics['model']} {cls}"
        log.info("%s seed %s: %s AUC %.4f, rejection %s", shown, metrics["seed"], args.split,
                 fom.get("auc", float("nan")), fom.get("rejection"))  # fmt: skip


def _run_report(args: argparse.Namespace) -> None:
    from jettag.report import write_report
    from jettag.settings import EvaluateSettings

    metrics = write_report(
        args.evaluations,
        args.output_dir,
        _settings(args, EvaluateSettings),
        ingest_summary=args.ingest_summary,
        build_summaries=args.build_summaries,
        config=args.config,
        generate_summaries=args.generate_summaries,
    )
    for name, m in metrics["models"].items():
        for cls, fom in m.get("classes", {None: m}).items():
            shown = name if cls is None else f"{name} {cls}"
            log.info(
                "%s: AUC %.4f (%d seeds), rejection %s", shown, fom["auc"], m["n_seeds"], fom["rejection"]
            )


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="search one tagger's hyperparameters with Optuna (resumes a study it finds in OUTPUT_DIR)",
        description="Run or resume the Optuna study of one tagger over its tune.space: every trial a real "
        "training on the ingest shards; writes trials.csv, best.yaml, best_settings.yaml and study.json.",
    )
    p.add_argument("--model", required=True, help="model configuration file (configs/models/*.yaml), or bdt")
    p.add_argument(
        "--shards", nargs="+", required=True, help="the ingest shards of every split (<file>/<split>.arrow)"
    )
    p.add_argument("--ingest-summary", required=True, help="the ingest stage's summary.json")
    p.add_argument("--output-dir", required=True, help="the study's directory (results/tune/<model>)")
    p.add_argument(
        "--builds-dir", required=True, help="where the builds of the trials' build settings are kept"
    )
    _add_settings(p)
    p.set_defaults(func=_run_tune)

    p = sub.add_parser("tune-summary", help="one Markdown table of the taggers' searches")
    p.add_argument("studies", nargs="+", help="the study.json of each tagger's search")
    p.add_argument("--output", required=True, help="Markdown file to write")
    p.set_defaults(func=_run_tune_summary)


def _run_tune(args: argparse.Namespace) -> None:
    import optuna

    from jettag.settings import BuildSettings, TrainSettings, TuneSettings, load_stage_config
    from jettag.tune import group_shards, tune_model

    # Optuna's lines go through jettag's log, in its format
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    config = load_stage_config(args.settings)
    result = tune_model(
        args.model,
        group_shards(args.shards),
        args.ingest_summary,
        args.output_dir,
        args.builds_dir,
        TuneSettings.from_config(config),
        BuildSettings.from_config(config),
        TrainSettings.from_config(config),
    )
    best = result["best"]
    log.info("%s: best of %d trials: trial %d, val AUC %.4f, %s", result["model"],
             result["trials"]["complete"] + result["trials"]["pruned"], best["number"], best["val_auc"],
             best["params"])  # fmt: skip


def _run_tune_summary(args: argparse.Namespace) -> None:
    from jettag.tune import write_summary

    sys.stdout.write(write_summary(args.studies, args.output))


def _add_check_config(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check-config", help="validate a workflow configuration file and print it with defaults"
    )
    p.add_argument("config", help="YAML configuration file")
    p.set_defaults(func=_run_check_config)


def _run_check_config(args: argparse.Namespace) -> None:
    import yaml

    from jettag.config import load_config

    sys.stdout.write(yaml.safe_dump(load_config(args.config), sort_keys=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jettag", description=__doc__)
    parser.add_argument("--version", action="version", version=f"jettag {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    _add_ingest(sub)
    _add_summarize_ingest(sub)
    _add_subset_train(sub)
    _add_build(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_learning_curve(sub)
    add_predict_parsers(sub)
    _add_tune(sub)
    _add_check_config(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from jettag.detector import CardError
    from jettag.ingest.errors import IngestError
    from jettag.schema import ConfigError

    try:
        args.func(args)
    except (ConfigError, CardError, IngestError, ValueError, OSError) as err:
        log.error("%s", err)
        return 2
    return 0
