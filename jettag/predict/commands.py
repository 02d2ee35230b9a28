"""The ``jettag predict`` and ``jettag export`` subcommands (registered by :mod:`jettag.cli`).

Only ``argparse`` is imported at module level: the heavy imports happen when a command runs.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger("jettag")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``predict`` and ``export`` to the ``jettag`` command's subparsers."""
    p = sub.add_parser(
        "predict",
        help="score the jets of new files with a trained tagger (one output entry per input jet)",
        description=(
            "Apply a trained tagger (its own feature building, ordering and standardisation) to ROOT, "
            "TopLandscape HDF5 or parquet files, a chunk at a time. Writes one entry per input jet, in the "
            "input order: entry, file_index, status, score_<label>, observers and the inputs' label_* "
            "branches. Jets that cannot be scored (no constituents, non-finite values) get the score -1 "
            "and a nonzero status, and are counted."
        ),
    )
    p.add_argument("--model", required=True, help="training directory (artefact.json + model.pt or bdt.json)")
    p.add_argument("--input", required=True, nargs="+", metavar="FILE", help="input files or globs, in order")
    p.add_argument("--output", required=True, help="output file: .root (tree 'scores') or .parquet")
    p.add_argument("--summary", help="JSON file for the counts (jets scored and not, per reason and file)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    p.add_argument("--device", default="cpu", help="torch device of the network, e.g. cpu or cuda")
    p.add_argument(
        "--settings",
        metavar="FILE_OR_JSON",
        help="settings as any part of a workflow configuration (YAML or JSON file, or JSON text): "
        "predict.chunk_size, evaluate.batch_size, and ingest's tree, branch_map and jet_r for reading",
    )
    p.set_defaults(func=_run_predict)

    p = sub.add_parser(
        "export",
        help="export a trained tagger (network or BDT) to ONNX, with its feature spec as JSON",
        description=(
            "Write the tagger as ONNX (dynamic batch size, and sequence length for sequence taggers) and, "
            "beside it, <name>.spec.json: inputs, feature definitions and order, ordering, standardisation "
            "and labels. The export is checked with ONNX Runtime against PyTorch, or for the BDT against "
            "its JSON trees."
        ),
    )
    p.add_argument("--model", required=True, help="training directory of a network tagger or of the BDT")
    p.add_argument("--format", required=True, choices=["onnx"], help="export format")
    p.add_argument("--output", help="file to write (default: <model>/model.onnx)")
    p.set_defaults(func=_run_export)


def _run_predict(args: argparse.Namespace) -> None:
    import torch

    from jettag.artefact import load_trained
    from jettag.predict.run import predict_files
    from jettag.settings import EvaluateSettings, IngestSettings, PredictSettings, load_stage_config

    torch.set_num_threads(args.threads)
    config = load_stage_config(args.settings)
    result = predict_files(
        load_trained(args.model, args.device),
        args.input,
        args.output,
        PredictSettings.from_config(config),
        IngestSettings.from_config(config),
        EvaluateSettings.from_config(config),
        summary=args.summary,
    )
    log.info(
        "%s: %d jets, %d scored, not scored %s, %.0f jets/s",
        args.output,
        result["jets"],
        result["scored"],
        result["unscored"],
        result["jets_per_second"],
    )


def _run_export(args: argparse.Namespace) -> None:
    from pathlib import Path

    from jettag.artefact import load_trained
    from jettag.predict.export import export_onnx, spec_path

    model = load_trained(args.model)
    output = Path(args.output) if args.output else model.directory / "model.onnx"
    spec = export_onnx(model, output)
    log.info(
        "wrote %s and %s (ONNX Runtime and %s agree within %.1g)",
        output,
        spec_path(output),
        spec["check"]["reference"],
        spec["check"]["max_abs_difference"],
    )
