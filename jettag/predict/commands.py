"""The ``jettag predict`` and ``jettag export`` subcommands (registered by :mod:`jettag.cli`).

Only ``argparse`` is imported at module level: the heavy imports happen when a command runs.
"""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``predict`` and ``export`` to the ``jettag`` command's subparsers."""
