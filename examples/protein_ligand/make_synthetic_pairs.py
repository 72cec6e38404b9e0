"""Write synthetic protein-ligand pairs: an amino-acid sequence, a SMILES-like ligand and whether they bind.

A pair binds when its protein carries the motif ``WHHW`` *and* its ligand a bromine (``Br``); neither appears in
the background. Half the pairs bind; of the others, half have neither, a quarter only the motif and a quarter only
the bromine, so a model must look at both molecules. ``--label-noise`` flips that share of labels at random.

The table, ``pairs.csv``, has one row per pair: ``pair_id``, ``protein`` (one-letter amino acids), ``ligand``
(SMILES) and ``binds`` (0/1), the columns train.py reads (a real table, e.g. exported from BindingDB with a binding
threshold, needs the same four columns)::

    python examples/protein_ligand/make_synthetic_pairs.py --out protein_ligand_pairs --n 400
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

MOTIF = "WHHW"  # the binding site
LIGAND_GROUP = "Br"  # the group that binds it
BACKGROUND_AMINO_ACIDS = "ACDEFGIKLMNPQRSTVY"  # no H, no W: the motif appears only where planted
BACKGROUND_FRAGMENTS = ("C", "CC", "C(C)", "CO", "CN", "C(=O)O", "c1ccccc1", "N", "O", "C(F)", "Cl")
COLUMNS = ("pair_id", "protein", "ligand", "binds")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write pairs.csv to")
    parser.add_argument("--n", type=int, default=400, help="number of pairs (default: %(default)s)")
    parser.add_argument(
        "--label-noise", type=float, default=0.05, help="share of labels flipped at random (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.n < 10:
        parser.error("--n must be at least 10 (train, validation and test need both classes)")
    if not 0.0 <= args.label_noise < 0.5:
        parser.error("--label-noise must be in [0, 0.5)")
    return args


def protein(rng: np.random.Generator, with_motif: bool) -> str:
    """A random sequence of 20-40 background amino acids, with the motif at a random place if asked."""
    residues = "".join(rng.choice(list(BACKGROUND_AMINO_ACIDS), size=int(rng.integers(20, 41))))
    if not with_motif:
        return residues
    at = int(rng.integers(0, len(residues) + 1))
    return residues[:at] + MOTIF + residues[at:]


def ligand(rng: np.random.Generator, with_group: bool) -> str:
    """A random chain of 3-8 fragments, with the bromine at a random place if asked."""
    fragments = [str(f) for f in rng.choice(BACKGROUND_FRAGMENTS, size=int(rng.integers(3, 9)))]
    if with_group:
        fragments.insert(int(rng.integers(1, len(fragments) + 1)), f"C({LIGAND_GROUP})")
    return "".join(fragments)


def make_pairs(n: int, label_noise: float, seed: int) -> list[tuple[str, str, str, int]]:
    """``n`` pairs: half binding (motif and bromine); the rest have neither (half), the motif only or the bromine
    only (a quarter each)."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(n):
        kind = "both" if index % 2 == 0 else ("neither", "motif", "neither", "group")[(index // 2) % 4]
        has_motif, has_group = kind in ("both", "motif"), kind in ("both", "group")
        label = int(has_motif and has_group)
        if rng.random() < label_noise:
            label = 1 - label
        rows.append((f"pair_{index:05d}", protein(rng, has_motif), ligand(rng, has_group), label))
    order = rng.permutation(n)
    return [rows[i] for i in order]


def main(argv: list[str] | None = None) -> int:
    """Write ``<out>/pairs.csv``; returns the exit status."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = make_pairs(args.n, args.label_noise, args.seed)
    with (args.out / "pairs.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    print(f"{len(rows)} pairs ({sum(row[3] for row in rows)} binding) -> {args.out / 'pairs.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
