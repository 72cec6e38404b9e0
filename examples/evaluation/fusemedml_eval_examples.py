"""FuseMedML's 28 evaluation examples, reproduced with fuse-eval on FuseMedML's own input files: the command line.

Each ``example_*`` function is one of FuseMedML 0.4.1's ``fuse/eval/examples`` written with the public ``fuse.eval``
API, with FuseMedML's name, in a module named after FuseMedML's file (``examples_classification.py``,
``examples_comparison.py`` and ``examples_survival.py`` hold FuseMedML's ``examples.py``). Every function runs with no
argument, as FuseMedML's does, and returns the results ``NDict``; all of them are importable from here too::

    from fusemedml_eval_examples import example_7      # was: from fuse.eval.examples.examples import example_7

The numbers are FuseMedML's (e.g. example_1's AUC 0.845, example_4's 95% CI [0.7125, 0.95375] with 10,000
bootstraps) except where fuse-eval deliberately differs, which a comment says (docs/migration.md lists every
difference). Where FuseMedML's example reads a file that is not among the shared inputs (example_0's pickle,
example_seg_4's COCO files) or downloads one (example_9's MNIST labels), the example makes an equivalent and says so.

Run::

    python examples/evaluation/fusemedml_eval_examples.py --help
    python examples/evaluation/fusemedml_eval_examples.py                        # every example
    python examples/evaluation/fusemedml_eval_examples.py example_4 example_13   # some of them
    python examples/evaluation/fusemedml_eval_examples.py --fixtures DIR --out report/

The inputs are FuseMedML's ``fuse/eval/examples/inputs`` files, found in ``--fixtures DIR``, else in
``$FUSE_COMPAT_FIXTURES``, else in ``<repo>/../shared/fixtures/fusemedml-eval``. Nothing is downloaded.
Every example's report (``results.txt``, ``results.json``, ``results.md``) is written to ``<out>/<example>/``
(default ``--out``: ``fusemedml-eval-examples/``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from eval_example_inputs import DEFAULT_FIXTURES, FIXTURES_ENV, MissingDependencyError, can_plot, find_fixtures
from examples_classification import (
    example_0,
    example_1,
    example_2,
    example_3,
    example_4,
    example_8,
    example_9,
    example_11,
    example_12,
    example_13,
    example_14,
    example_18,
)
from examples_comparison import example_5, example_6, example_7, example_10
from examples_segmentation import example_seg_0, example_seg_1, example_seg_2, example_seg_3, example_seg_4
from examples_seq_gen import example_seq_gen_0, example_seq_gen_1, example_seq_gen_2
from examples_stats import example_pearson_correlation
from examples_survival import example_15, example_16, example_17

from fuse.core import NDict
from fuse.eval import EvaluatorDefault

__all__ = [
    "EXAMPLE_NAMES",
    "example_0",
    "example_1",
    "example_10",
    "example_11",
    "example_12",
    "example_13",
    "example_14",
    "example_15",
    "example_16",
    "example_17",
    "example_18",
    "example_2",
    "example_3",
    "example_4",
    "example_5",
    "example_6",
    "example_7",
    "example_8",
    "example_9",
    "example_pearson_correlation",
    "example_seg_0",
    "example_seg_1",
    "example_seg_2",
    "example_seg_3",
    "example_seg_4",
    "example_seq_gen_0",
    "example_seq_gen_1",
    "example_seq_gen_2",
    "main",
]

EXAMPLE_NAMES = [
    *(f"example_{k}" for k in range(19)),
    *(f"example_seg_{k}" for k in range(5)),
    *(f"example_seq_gen_{k}" for k in range(3)),
    "example_pearson_correlation",
]


def run_examples(names: Sequence[str], args: argparse.Namespace) -> dict[str, NDict]:
    """Run the named examples with the command-line settings, each writing its report to ``<out>/<name>/``;
    returns each one's results. An example whose optional dependency is missing is skipped with a one-line note.
    """
    fixtures, out = args.fixtures, args.out
    # examples given `out` also write their files (plots, generated inputs) there
    runners: dict[str, Callable[[], NDict]] = {
        "example_0": lambda: example_0(fixtures=fixtures, out=out),
        "example_1": lambda: example_1(fixtures, out),
        "example_2": lambda: example_2(fixtures, out),
        "example_3": lambda: example_3(out),
        "example_4": lambda: example_4(fixtures, out, num_of_bootstraps=args.bootstraps),
        "example_5": lambda: example_5(out, num_of_bootstraps=args.bootstraps),
        "example_6": lambda: example_6(out),
        "example_7": lambda: example_7(out),
        "example_8": lambda: example_8(fixtures, out),
        "example_9": lambda: example_9(fixtures=fixtures),
        "example_10": example_10,
        "example_11": example_11,
        "example_12": example_12,
        "example_13": lambda: example_13(fixtures, out),
        "example_14": lambda: example_14(fixtures, out, num_models=args.ensemble_models),
        "example_15": example_15,
        "example_16": example_16,
        "example_17": example_17,
        "example_18": example_18,
        "example_seg_0": lambda: example_seg_0(fixtures, out, max_cases=args.seg_cases),
        "example_seg_1": example_seg_1,
        "example_seg_2": lambda: example_seg_2(fixtures, out, max_cases=args.seg_cases),
        "example_seg_3": example_seg_3,
        "example_seg_4": lambda: example_seg_4(out=out),
        "example_seq_gen_0": example_seq_gen_0,
        "example_seq_gen_1": example_seq_gen_1,
        "example_seq_gen_2": example_seq_gen_2,
        "example_pearson_correlation": example_pearson_correlation,
    }
    results: dict[str, NDict] = {}
    for name in names:
        start = time.perf_counter()
        try:
            results[name] = runners[name]()
        except MissingDependencyError as missing:
            print(f"skipped {name}: {missing}")
            continue
        # the same report eval(output_dir=...) writes: for the examples without `out`, and harmless for the others
        EvaluatorDefault().dump_metrics_results(results[name], out / name)
        print(f"({time.perf_counter() - start:.1f} s; report in {out / name})")
    return results


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description="FuseMedML's evaluation examples reproduced with fuse-eval on FuseMedML's input files.",
    )
    parser.add_argument(
        "examples", nargs="*", metavar="EXAMPLE", help=f"examples to run (default: all): {', '.join(EXAMPLE_NAMES)}"
    )
    parser.add_argument(
        "--fixtures",
        metavar="DIR",
        help=f"FuseMedML's example inputs (default: ${FIXTURES_ENV}, else {DEFAULT_FIXTURES})",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("fusemedml-eval-examples"), help="report folder (default: %(default)s)"
    )
    parser.add_argument(
        "--bootstraps", type=int, default=10_000, help="resamplings of examples 4 and 5 (default: %(default)s)"
    )
    parser.add_argument(
        "--ensemble-models", type=int, default=5, choices=range(1, 6), metavar="{1..5}",
        help="models in example_14's ensemble (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--seg-cases", type=int, default=None, choices=range(1, 5), metavar="{1..4}",
        help="NIfTI cases in the segmentation examples (default: all 4)",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the examples chosen on the command line; 0 on success, 1 when an example was skipped for a missing
    dependency, 2 when the inputs are missing."""
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [name for name in args.examples if name not in EXAMPLE_NAMES]
    if unknown:
        parser.error(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(EXAMPLE_NAMES)}")
    try:
        args.fixtures = find_fixtures(args.fixtures)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    names = args.examples or EXAMPLE_NAMES
    if not can_plot():
        print("matplotlib is not installed: no plots (pip install 'fuse-eval[plot]')")
    done = run_examples(names, args)
    print(f"\n{len(done)} of {len(names)} example(s) done; reports in {args.out.resolve()}")
    return 0 if len(done) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
