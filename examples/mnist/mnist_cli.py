"""The command-line options both MNIST examples take; light (argparse only), so that ``--help`` answers before
torch and Lightning load."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both examples take."""
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding the four MNIST IDX files")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    parser.add_argument("--batch-size", type=int, default=100, help="default 100")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--weight-decay", type=float, default=1e-3, help="Adam weight decay (default 1e-3)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    parser.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto (default), cpu, gpu")
    parser.add_argument(
        "--bootstraps", type=int, default=1000, help="bootstrap resamplings of the report's AUC CIs (default 1000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random generator (default 0)")
