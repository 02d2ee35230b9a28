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
    p.add_argument("--format", choices=["root", "parquet"], help="output format (default: from --output)")
    p.add_argument("--summary", help="JSON file for the counts (jets scored and not, per reason and file)")
    p.add_argument("--chunk-size", type=int, default=10000, help="jets read and scored at a time")
    p.add_argument("--batch-size", type=int, default=1024, help="jets per forward pass")
    p.add_argument("--tree", default="tree", help="TTree name in ROOT inputs")
    p.add_argument(
        "--branch-map", action="append", default=[], metavar="JETCLASS=YOURS", help="e.g. part_px=PFCands_px"
    )
    p.add_argument("--jet-r", type=float, default=0.8, help="jet radius for substructure a file lacks")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    p.add_argument("--device", default="cpu", help="torch device of the network, e.g. cpu or cuda")
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


def _branch_map(items: list[str]) -> dict[str, str]:
    branch_map = {}
    for item in items:
        name, sep, theirs = item.partition("=")
        if not sep or not name or not theirs:
            raise ValueError(f"--branch-map '{item}' is not JETCLASS=YOURS")
        branch_map[name] = theirs
    return branch_map


def _run_predict(args: argparse.Namespace) -> None:
    import torch

    from jettag.artefact import load_trained
    from jettag.predict.run import predict_files

    torch.set_num_threads(args.threads)
    result = predict_files(
        load_trained(args.model, args.device),
        args.input,
        args.output,
        fmt=args.format,
        chunk_size=args.chunk_size,
        batch_size=args.batch_size,
        branch_map=_branch_map(args.branch_map),
        tree=args.tree,
        jet_r=args.jet_r,
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
