"""The ``jettag`` command: one subcommand per workflow stage, so every stage also runs without Snakemake."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from jettag import __version__
from jettag.jetclass import BINARY_LABEL_NAMES, PROCESS_LABELS
from jettag.predict.commands import add_parsers as add_predict_parsers

__all__ = ["main"]

log = logging.getLogger("jettag")


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
    p.add_argument("--jets-per-shard", required=True, type=int, help="jets to write")
    p.add_argument("--output", required=True, help="ROOT file to write")
    p.add_argument("--summary", help="JSON file for the counts (events, jets kept and dropped, rates)")
    p.add_argument("--sqrt-s", type=float, default=14000.0, help="pp centre-of-mass energy, GeV")
    p.add_argument("--jet-r", type=float, default=0.8, help="anti-kt radius")
    p.add_argument("--pt-min", type=float, default=550.0, help="lowest jet pT kept, GeV")
    p.add_argument("--pt-max", type=float, default=650.0, help="highest jet pT kept, GeV")
    p.add_argument("--eta-max", type=float, default=2.0, help="largest jet |eta| kept")
    p.add_argument("--pthat-min", type=float, help="Pythia pTHatMin, GeV (default 0.9 * pt-min)")
    p.add_argument("--pthat-max", type=float, help="Pythia pTHatMax, GeV (default 1.1 * pt-max)")
    p.add_argument("--batch-events", type=int, default=100, help="events per Pythia batch")
    p.add_argument("--pythia", action="append", default=[], metavar="SETTING", help="extra Pythia setting")
    p.add_argument(
        "--detector",
        default="atlas",
        metavar="CARD",
        help="detector card: atlas, cms, a YAML file, or none for particle-level jets (default atlas)",
    )
    p.set_defaults(func=_run_generate)


def _run_generate(args: argparse.Namespace) -> None:
    from jettag.generate import GenerationSettings, generate_shard

    settings = GenerationSettings(
        process=args.process,
        seed=args.seed,
        n_jets=args.jets_per_shard,
        sqrt_s=args.sqrt_s,
        jet_r=args.jet_r,
        pt_min=args.pt_min,
        pt_max=args.pt_max,
        eta_max=args.eta_max,
        pthat_min=args.pthat_min,
        pthat_max=args.pthat_max,
        batch_events=args.batch_events,
        pythia=tuple(args.pythia),
        detector=args.detector,
    )
    result = generate_shard(settings, args.output, args.summary)
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
    p.add_argument("--signal", nargs="+", required=True, metavar="LABEL", help="signal label branches")
    p.add_argument(
        "--background", nargs="+", required=True, metavar="LABEL", help="background label branches"
    )
    p.add_argument(
        "--multiclass",
        action="store_true",
        help="each signal label its own class (label i+1), the background labels class 0",
    )
    p.add_argument("--chunk-size", type=int, default=20000, help="jets read at a time")
    p.add_argument("--splits", type=float, nargs=3, default=(0.6, 0.2, 0.2), metavar=("TRAIN", "VAL", "TEST"))
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument(
        "--split-by",
        choices=["hash", "file"],
        default="hash",
        help="hash: per jet by --splits and --split-seed; file: all jets to the split the file's name says",
    )
    p.add_argument("--pt-min", type=float, help="drop (and count) jets below this pT, GeV")
    p.add_argument("--pt-max", type=float, help="drop (and count) jets above this pT, GeV")
    p.add_argument("--eta-max", type=float, help="drop (and count) jets with |eta| at or above this")
    p.add_argument("--jet-r", type=float, default=0.8, help="jet radius for substructure a file lacks")
    p.add_argument("--on-bad-file", choices=["error", "skip"], default="error")
    p.add_argument("--tree", default="tree", help="TTree name in ROOT files")
    p.add_argument(
        "--branch-map", action="append", default=[], metavar="JETCLASS=YOURS", help="e.g. part_px=PFCands_px"
    )
    p.set_defaults(func=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> None:
    from pathlib import Path

    from jettag.ingest import IngestSettings, Selection, ingest_file
    from jettag.ingest.split import SPLITS

    branch_map = {}
    for item in args.branch_map:
        name, sep, theirs = item.partition("=")
        if not sep or not theirs:
            raise ValueError(f"--branch-map '{item}' is not JETCLASS=YOURS")
        branch_map[name] = theirs
    if abs(sum(args.splits) - 1) > 1e-9:
        raise ValueError(f"--splits {args.splits} add up to {sum(args.splits)}, not 1")
    settings = IngestSettings(
        signal=args.signal,
        background=args.background,
        selection=Selection(args.pt_min, args.pt_max, args.eta_max, args.jet_r),
        fractions=dict(zip(SPLITS, args.splits, strict=True)),
        split_seed=args.split_seed,
        split_by=args.split_by,
        chunk_size=args.chunk_size,
        on_bad_file=args.on_bad_file,
        branch_map=branch_map,
        tree=args.tree,
        multiclass=args.multiclass,
    )
    outputs = {split: Path(args.output_dir) / f"{split}.arrow" for split in SPLITS}
    result = ingest_file(args.input, outputs, settings, args.summary)
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


def _add_build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-length", type=int, default=128, help="constituents kept per jet")
    p.add_argument("--ordering", choices=["pt", "delta_r", "kt"], default="pt", help="constituent order")
    p.add_argument("--with-pid", action="store_true", help="add charge and particle-ID flags to the features")
    p.add_argument("--chunk-size", type=int, default=20000, help="jets processed at a time")


def _build_settings(args: argparse.Namespace, **extra: Any):
    """The sequence options both build commands share; ``extra``: the image spec and balance of `build`."""
    from jettag.build import BuildSettings

    return BuildSettings(args.max_length, args.ordering, args.with_pid, args.chunk_size, **extra)


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit-standardisation",
        help="fit the feature standardisation on the training shards",
        description="Fit mean and std of each constituent feature on the training split; write them as JSON.",
    )
    p.add_argument("shards", nargs="+", help="training-split shards of `jettag ingest`")
    p.add_argument("--output", required=True, help="JSON file to write")
    _add_build_options(p)
    p.set_defaults(func=_run_fit_standardisation)

    p = sub.add_parser(
        "build",
        help="build sequences, jet images and high-level features of one split",
        description="Standardised constituent sequences, jet images and BDT features of one split.",
    )
    p.add_argument("shards", nargs="*", help="shards of the split, from `jettag ingest`")
    p.add_argument("--split", required=True, choices=["train", "val", "test"])
    p.add_argument("--standardisation", required=True, help="JSON of `jettag fit-standardisation`")
    p.add_argument("--output-dir", required=True, help="directory for sequences, images and highlevel.arrow")
    p.add_argument(
        "--balance",
        action="store_true",
        help="keep every class at the jet count of the smallest (dropped jets are counted)",
    )
    p.add_argument(
        "--ingest-summary", help="dataset summary of `jettag summarize-ingest` (needed by --balance)"
    )
    p.add_argument("--image-size", type=int, default=37)
    p.add_argument("--image-extent", type=float, default=1.6)
    for step in ("centre", "rotate", "flip", "normalise"):
        p.add_argument(f"--no-{step}", action="store_true", help=f"switch the image {step} step off")
    _add_build_options(p)
    p.set_defaults(func=_run_build)


def _run_fit_standardisation(args: argparse.Namespace) -> None:
    from jettag.build import fit_standardisation

    std = fit_standardisation(args.shards, _build_settings(args), args.output)
    log.info("standardisation of %s written to %s", ", ".join(std.names), args.output)


def _run_build(args: argparse.Namespace) -> None:
    from jettag.build import build_split

    result = build_split(
        args.split,
        args.shards,
        args.standardisation,
        _build_settings(args),
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
        help="train one network tagger (LSTM, GRU, RNN, CNN) with Lightning on the built shards",
        description="Train one tagger for one seed; resumes from OUTPUT_DIR/last.ckpt when it exists.",
    )
    p.add_argument("--model", required=True, help="model configuration file (configs/models/*.yaml)")
    p.add_argument(
        "--build-dir", required=True, help="the build stage's directory (train/, val/, summary files)"
    )
    p.add_argument(
        "--output-dir", required=True, help="directory for checkpoints, logs, model.pt, artefact.json"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-epochs", type=int, default=20)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--schedule", choices=["cosine", "onecycle", "none"], default="cosine")
    p.add_argument("--gradient-clip-val", type=float, default=1.0, help="0 for no clipping")
    p.add_argument("--no-bucket", action="store_true", help="shuffle sequences without length bucketing")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--devices", default="auto", help="auto, a count, or comma-separated ids")
    p.add_argument("--strategy", default="auto", help="auto, or ddp")
    p.add_argument("--num-nodes", type=int, default=1, help="nodes of a multi-node DDP run (under srun)")
    p.add_argument("--precision", default=None, help="default: bf16-mixed on GPUs that support it, else 32")
    p.add_argument(
        "--streaming",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stream the shards a record batch at a time (default), or read each split whole into memory",
    )
    p.add_argument(
        "--shuffle-buffer", type=int, default=32768, help="jets in the streaming shuffle buffer per worker"
    )
    p.set_defaults(func=_run_train)

    p = sub.add_parser("train-bdt", help="train the BDT baseline on the high-level features")
    p.add_argument("--build-dir", required=True, help="the build stage's directory")
    p.add_argument("--output-dir", required=True, help="directory for bdt.json and artefact.json")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for scikit-learn's fit")
    p.set_defaults(func=_run_train_bdt)


def _devices(text: str) -> int | str | list[int]:
    if text == "auto":
        return text
    if "," in text:
        return [int(item) for item in text.split(",") if item]
    return int(text)


def _run_train(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    import torch

    from jettag.models import load_model_config
    from jettag.train import JetDataModule, train_model

    torch.set_num_threads(args.threads)
    spec = load_model_config(args.model)
    build = Path(args.build_dir)
    shard = "images.arrow" if spec["kind"] == "cnn" else "sequences.arrow"
    summary = json.loads((build / "train" / "summary.json").read_text())
    data = JetDataModule(
        "image" if spec["kind"] == "cnn" else "sequence",
        train=build / "train" / shard,
        val=build / "val" / shard,
        test=build / "test" / shard,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        bucket=not args.no_bucket,
        seed=args.seed,
        streaming=args.streaming,
        shuffle_buffer=args.shuffle_buffer,
    )
    metrics = train_model(
        spec,
        data,
        args.output_dir,
        seed=args.seed,
        max_epochs=args.max_epochs,
        accelerator=args.accelerator,
        devices=_devices(args.devices),
        strategy=args.strategy,
        num_nodes=args.num_nodes,
        precision=args.precision,
        gradient_clip_val=args.gradient_clip_val or None,
        patience=args.patience,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        n_classes=summary.get("n_classes", 1),
        label_names=summary.get("label_names", list(BINARY_LABEL_NAMES)),
        standardisation=build / "standardisation.json",
        build_info={**summary["settings"], "features": summary["features"]},
    )
    log.info("%s seed %d: %s", spec["name"], args.seed, metrics)


def _run_train_bdt(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from jettag.train.bdt import train_bdt

    build = Path(args.build_dir)
    summary = json.loads((build / "train" / "summary.json").read_text())
    metrics = train_bdt(
        build / "train" / "highlevel.arrow",
        build / "val" / "highlevel.arrow",
        args.output_dir,
        seed=args.seed,
        label_names=summary.get("label_names", list(BINARY_LABEL_NAMES)),
        threads=args.threads,
    )
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
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument(
        "--signal-efficiencies", type=float, nargs="+", default=[0.3, 0.5], metavar="EPS_S",
        help="signal efficiencies at which to quote the background rejection",
    )  # fmt: skip
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples; 0 for none")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    p.set_defaults(func=_run_evaluate)

    p = sub.add_parser(
        "report",
        help="gather the evaluated runs into metrics.json, figures and report.html",
        description="Write OUTPUT_DIR/metrics.json, the figures (PNG and PDF) and report.html.",
    )
    p.add_argument("--evaluations", nargs="+", required=True, help="the evaluate stage's run directories")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--signal-efficiencies", type=float, nargs="+", default=[0.3, 0.5], metavar="EPS_S")
    p.add_argument("--ingest-summary", help="the ingest stage's summary.json (dataset counts)")
    p.add_argument("--build-summaries", nargs="*", default=[], help="the build stage's summary.json files")
    p.add_argument("--config", help="the workflow configuration, for the provenance")
    p.add_argument(
        "--generate-summaries",
        nargs="*",
        default=[],
        help="the generate stage's JSON summaries, for the detector card's name and hash in the provenance",
    )
    p.add_argument("--pt-bins", type=float, nargs="+", help="jet pT bin edges (default: 5 equal-count bins)")
    p.set_defaults(func=_run_report)


def _run_evaluate(args: argparse.Namespace) -> None:
    from jettag.evaluate import evaluate_run

    metrics = evaluate_run(
        args.run_dir,
        args.build_dir,
        args.output_dir,
        split=args.split,
        signal_efficiencies=tuple(args.signal_efficiencies),
        bootstrap=args.bootstrap,
        batch_size=args.batch_size,
        threads=args.threads,
    )
    test = metrics["test"]
    for cls, fom in test.get("per_class", {None: test}).items():
        shown = metrics["model"] if cls is None else f"{metrics['model']} {cls}"
        log.info("%s seed %s: %s AUC %.4f, rejection %s", shown, metrics["seed"], args.split,
                 fom.get("auc", float("nan")), fom.get("rejection"))  # fmt: skip


def _run_report(args: argparse.Namespace) -> None:
    from jettag.report import write_report

    metrics = write_report(
        args.evaluations,
        args.output_dir,
        signal_efficiencies=args.signal_efficiencies,
        ingest_summary=args.ingest_summary,
        build_summaries=args.build_summaries,
        config=args.config,
        pt_bins=args.pt_bins,
        generate_summaries=args.generate_summaries,
    )
    for name, m in metrics["models"].items():
        for cls, fom in m.get("classes", {None: m}).items():
            shown = name if cls is None else f"{name} {cls}"
            log.info(
                "%s: AUC %.4f (%d seeds), rejection %s", shown, fom["auc"], m["n_seeds"], fom["rejection"]
            )


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
    _add_build(sub)
    _add_train(sub)
    _add_evaluate(sub)
    add_predict_parsers(sub)
    _add_check_config(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from jettag.config import ConfigError
    from jettag.detector import CardError
    from jettag.ingest.errors import IngestError

    try:
        args.func(args)
    except (ConfigError, CardError, IngestError, ValueError, OSError) as err:
        log.error("%s", err)
        return 2
    return 0
