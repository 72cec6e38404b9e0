"""The KNIGHT challenge scorer (FuseMedML's `knight/eval/eval.py`), built on fuse-eval.

It reads the organisers' targets file and a participant's prediction files, checks them, and scores:

- task 1, "candidate for adjuvant therapy" (high or very high risk vs the rest): ROC AUC with a 95% bootstrap
  confidence interval;
- task 2, the five AUA risk groups (benign, low, intermediate, high, very high): one-vs-rest ROC AUC per group and
  their macro average, each with a 95% bootstrap confidence interval.

Besides the challenge's scores, each task gets a clinician-readable report (``fuse.eval.write_report``): the AUCs
with the same bootstrap intervals, and the proportions a clinician reads (task 1 at probability 0.5: sensitivity,
specificity, PPV, NPV, accuracy; task 2, the group with the highest probability: accuracy, and per group
sensitivity, specificity, PPV, NPV) with their counts and 95% Wilson intervals. A bootstrap interval of a proportion
collapses at 0 or 1 (every one of 42 candidates found gives 1.000-1.000); the Wilson interval does not
(0.916-1.000). The confusion matrix, calibration and figures complete it.

File formats (CSV with a header; one row per case):

    targets            case_id, Task1-target (0/1), Task2-target (0-4)
    task 1 predictions case_id, NoAT-score, CanAT-score                       (probabilities summing to 1)
    task 2 predictions case_id, B-score, LR-score, IR-score, HR-score, VHR-score (probabilities summing to 1)

Every target case must appear exactly once in each prediction file, and nothing else; a malformed file stops the
scorer with an error naming the file and the offending cases. The bootstraps are stratified by the target and
seeded, so the same files always give the same intervals.

    python examples/knight/eval.py --help
    python examples/knight/eval.py --targets validation_targets.csv --task1 validation_task1_predictions.csv \\
        --task2 validation_task2_predictions.csv --out results/

Writes to --out: results.md (the challenge's tables), results.csv (one row per score: value, ci_lower,
ci_upper), task1_roc.png / task2_roc.png (unless --no-plots; they need matplotlib),
fuse_eval/results.{txt,json,md} (every number fuse-eval computed) and, per task scored, the report
report/task1/ and report/task2/: report.html (one self-contained page), results.md, results.json and, unless
--no-plots, roc.png, precision_recall.png, calibration.png and (task 1, binary) decision_curve.png.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=Path, required=True, help="targets CSV (case_id, Task1-target, Task2-target)")
    parser.add_argument("--task1", type=Path, help="task 1 predictions CSV (case_id, NoAT-score, CanAT-score)")
    parser.add_argument("--task2", type=Path, help="task 2 predictions CSV (case_id, B-, LR-, IR-, HR-, VHR-score)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the reports")
    parser.add_argument("--bootstraps", type=int, default=10000, help="bootstrap resamplings per CI (default 10000)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the bootstrap resampling (default 1234)")
    parser.add_argument("--no-plots", action="store_true", help="skip the ROC curve plots")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import numpy as np
    import pandas as pd

    from fuse.core import NDict, save_dataframe, save_text_file
    from fuse.eval import (
        CI,
        EvaluatorDefault,
        MetricAUCROC,
        MetricBase,
        MetricROCCurve,
        ReportSettings,
        write_report,
    )
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"numpy", "pandas", "fuse.core", "fuse.eval"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-eval ({missing}): pip install fuse-eval, or in a clone: "
        "pip install -e packages/fuse-core -e packages/fuse-eval"
    ) from None


CASE_ID = "case_id"
TASK1_CLASS_NAMES = ("NoAT", "CanAT")  # aligned with Task1-target: 0 = no adjuvant therapy, 1 = candidate
TASK2_CLASS_NAMES = ("B", "LR", "IR", "HR", "VHR")  # aligned with Task2-target 0-4
TARGET_COLUMNS = ("Task1-target", "Task2-target")
HIGH_RISK_GROUPS = (3, 4)  # task 1 positives: high and very high risk
SUM_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1
TASK1_THRESHOLD = 0.5  # task 1 report: a case is called a candidate when its CanAT probability is > 0.5
REPORT_DIR = "report"  # under --out: one report folder per task


class SubmissionError(ValueError):
    """A targets or predictions file that does not follow the challenge's format."""


@dataclass(frozen=True)
class Task:
    """One challenge task: its number, class names and target column."""

    number: int
    class_names: tuple[str, ...]

    @property
    def target(self) -> str:
        """The targets file's column of this task."""
        return f"Task{self.number}-target"

    @property
    def score_columns(self) -> list[str]:
        """The prediction file's probability columns."""
        return [f"{name}-score" for name in self.class_names]


TASK1 = Task(1, TASK1_CLASS_NAMES)
TASK2 = Task(2, TASK2_CLASS_NAMES)


def _some(values: Sequence[object], limit: int = 5) -> str:
    """The first few values, for error messages."""
    shown = ", ".join(str(v) for v in list(values)[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def read_case_table(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV file with a `case_id` column and `columns`; every case id present once."""
    if not path.is_file():
        raise SubmissionError(f"{what} file {str(path)!r} not found")
    table = pd.read_csv(path, dtype={CASE_ID: str})
    missing = [column for column in (CASE_ID, *columns) if column not in table.columns]
    if missing:
        raise SubmissionError(f"{what} file {str(path)!r} lacks column(s) {missing}; it has {list(table.columns)}")
    if table[CASE_ID].isna().any():
        rows = (np.flatnonzero(table[CASE_ID].isna()) + 2).tolist()  # +2: the header is line 1
        raise SubmissionError(f"{what} file {str(path)!r} has rows without a case_id (lines {_some(rows)})")
    duplicated = sorted(set(table.loc[table[CASE_ID].duplicated(), CASE_ID]))
    if duplicated:
        raise SubmissionError(f"{what} file {str(path)!r} lists case(s) more than once: {_some(duplicated)}")
    indexed: pd.DataFrame = table.set_index(CASE_ID)
    return indexed


def read_targets(path: Path) -> pd.DataFrame:
    """The targets, indexed by case id; checks the labels' ranges and that task 1 is high or very high risk."""
    targets = read_case_table(path, TARGET_COLUMNS, "targets")
    for task in (TASK1, TASK2):
        labels = pd.to_numeric(targets[task.target], errors="coerce")
        bad = targets.index[~labels.isin(range(len(task.class_names)))].tolist()
        if bad:
            raise SubmissionError(
                f"targets file {str(path)!r}: {task.target} must be an integer in 0..{len(task.class_names) - 1}; "
                f"case(s) {_some(bad)} are not"
            )
        targets[task.target] = labels.astype(int)
    inconsistent = targets.index[
        targets["Task1-target"] != targets["Task2-target"].isin(HIGH_RISK_GROUPS).astype(int)
    ].tolist()
    if inconsistent:
        raise SubmissionError(
            f"targets file {str(path)!r}: Task1-target must be 1 exactly for the high and very high risk groups "
            f"(Task2-target 3 or 4); case(s) {_some(inconsistent)} disagree"
        )
    return targets


def read_predictions(path: Path, task: Task, case_ids: Sequence[str]) -> np.ndarray:
    """The task's probabilities ``[cases, classes]`` in the order of `case_ids`, after checking that each case is
    there once (and no other), and that each row holds probabilities in [0, 1] summing to 1."""
    what = f"task {task.number} predictions"
    table = read_case_table(path, task.score_columns, what)
    missing = [case for case in case_ids if case not in table.index]
    if missing:
        raise SubmissionError(f"{what} file {str(path)!r} has no prediction for case(s) {_some(missing)}")
    extra = sorted(set(table.index) - set(case_ids))
    if extra:
        raise SubmissionError(f"{what} file {str(path)!r} has case(s) that are not in the targets: {_some(extra)}")
    scores = table.loc[list(case_ids), task.score_columns].apply(pd.to_numeric, errors="coerce")
    probabilities: np.ndarray = scores.to_numpy(dtype=float)
    outside = ~np.isfinite(probabilities) | (probabilities < 0) | (probabilities > 1)
    if outside.any():
        bad = scores.index[outside.any(axis=1)].tolist()
        raise SubmissionError(
            f"{what} file {str(path)!r}: scores must be probabilities in [0, 1]; case(s) {_some(bad)} have other "
            "values (or none)"
        )
    off = np.abs(probabilities.sum(axis=1) - 1.0) > SUM_TOLERANCE
    if off.any():
        sums = probabilities[off].sum(axis=1)
        bad = [f"{case} (sum {total:.4f})" for case, total in zip(scores.index[off], sums, strict=True)]
        raise SubmissionError(f"{what} file {str(path)!r}: each row must sum to 1; case(s) {_some(bad)} do not")
    return probabilities


def task_metrics(task: Task, out: Path, bootstraps: int, seed: int, plots: bool) -> dict[str, MetricBase]:
    """The fuse-eval metrics of one task: the one-vs-rest AUCs of its classes and their macro average, wrapped in
    `CI` (bootstrap resampling stratified by the target), and the ROC curves when `plots`."""
    pred, target = f"task{task.number}_pred", f"task{task.number}_target"
    metrics: dict[str, MetricBase] = {
        # CI evaluates the wrapped metric on `bootstraps` resamplings of the cases (drawn per target class, so every
        # resampling keeps the class counts) and reports the original value with percentile bounds.
        f"task{task.number}_auc": CI(
            MetricAUCROC(pred=pred, target=target, class_names=task.class_names),
            stratum=target,
            num_of_bootstraps=bootstraps,
            rnd_seed=seed,
        )
    }
    if plots:
        # task 1 draws the positive class's curve only (the other is its mirror image), as FuseMedML did
        class_names = [None, *task.class_names[1:]] if task is TASK1 else list(task.class_names)
        metrics[f"task{task.number}_roc"] = MetricROCCurve(
            pred=pred, target=target, class_names=class_names, output_filename=out / f"task{task.number}_roc.png"
        )
    return metrics


def results_table(results: NDict, tasks: Sequence[Task]) -> pd.DataFrame:
    """One row per score: ``Task1-AUC``, ``Task2-AUC`` (macro average) and ``Task2-AUC-<class>VsRest``."""
    rows = []
    for task in tasks:
        auc = results[f"metrics.task{task.number}_auc"]
        keys = [("macro_avg", f"Task{task.number}-AUC")]
        if task is TASK2:
            keys += [(name, f"Task2-AUC-{name}VsRest") for name in task.class_names]
        for key, label in keys:
            rows.append(
                {
                    "score": label,
                    "value": auc[f"{key}.org"],
                    "ci_lower": auc[f"{key}.conf_lower"],
                    "ci_upper": auc[f"{key}.conf_upper"],
                }
            )
    table: pd.DataFrame = pd.DataFrame(rows)
    return table


def markdown_report(table: pd.DataFrame, tasks: Sequence[Task], plots: bool) -> str:
    """The challenge's results page: AUC [95% CI] per task, task 2's per-class table, the ROC curves."""
    shown = {row.score: f"{row.value:.3f} [{row.ci_lower:.3f}-{row.ci_upper:.3f}]" for row in table.itertuples()}
    lines = []
    if TASK1 in tasks:
        lines += ["# Task 1 - adjuvant treatment candidacy classification", "", f"AUC: {shown['Task1-AUC']}", ""]
        lines += ["![task 1 ROC curve](task1_roc.png)", ""] if plots else []
    if TASK2 in tasks:
        columns = ["Task2-AUC"] + [f"Task2-AUC-{name}VsRest" for name in TASK2_CLASS_NAMES]
        lines += ["# Task 2 - risk categories classification", "", f"AUC: {shown['Task2-AUC']}", ""]
        lines += ["## Multi-class AUC", "", "| " + " | ".join(c.removeprefix("Task2-") for c in columns) + " |"]
        lines += ["|" + " --- |" * len(columns), "| " + " | ".join(shown[c] for c in columns) + " |", ""]
        lines += ["![task 2 ROC curves](task2_roc.png)", ""] if plots else []
    return "\n".join(lines)


def task_report(
    task: Task, probabilities: np.ndarray, labels: np.ndarray, out: Path, bootstraps: int, seed: int, plots: bool
) -> Path | None:
    """Write the clinician-readable report of one task to ``out/report/task<n>`` and return that folder; ``None``
    (with the reason printed) when task 2's targets lack a risk group, whose per-group numbers would be undefined.

    Task 1 is binary (``CanAT`` positive, called when its probability is ``> TASK1_THRESHOLD``); task 2 predicts
    the group with the highest probability. The AUCs get the scorer's bootstrap (the same resamplings and seed,
    hence the same intervals); the proportions Wilson intervals from their counts.
    """
    names = list(task.class_names)
    if task is TASK1:
        scores: np.ndarray = probabilities[:, 1]  # p(CanAT); the pair sums to 1 only within SUM_TOLERANCE
        threshold: float | None = TASK1_THRESHOLD
        rule = (
            f"fixed in advance at probability {TASK1_THRESHOLD}, not tuned (the challenge scores the AUC, which "
            "needs no threshold)"
        )
        title = "KNIGHT task 1: candidate for adjuvant therapy (CanAT) vs not (NoAT)"
    else:
        absent = [name for index, name in enumerate(names) if index not in set(labels.tolist())]
        if absent:
            print(f"no task {task.number} report: the targets have no case of {absent}", file=sys.stderr)
            return None
        scores, threshold, rule = probabilities, None, "none: the group with the highest probability"
        title = "KNIGHT task 2: AUA risk group (B, LR, IR, HR, VHR)"
    settings = ReportSettings(
        threshold=threshold,
        threshold_rule=rule,
        proportion_ci="wilson",
        bootstraps=bootstraps,
        seed=seed,
        title=title,
        description=f"{len(labels)} cases of the targets file, scored from the submitted probabilities.",
        plots=plots,
    )
    folder = out / REPORT_DIR / f"task{task.number}"
    write_report(folder, scores, labels, names, settings=settings)
    print(f"task {task.number} report: {folder / 'report.html'}")
    return folder


def score(
    targets: Path,
    task1: Path | None,
    task2: Path | None,
    out: Path,
    bootstraps: int = 10000,
    seed: int = 1234,
    plots: bool = True,
) -> pd.DataFrame:
    """Check the files, score the given tasks, write the challenge's tables and each task's report (see
    `task_report`) to `out` and return the results table. The figures are drawn when `plots` and matplotlib is
    installed."""
    given = [(task, path) for task, path in ((TASK1, task1), (TASK2, task2)) if path is not None]
    if not given:
        raise SubmissionError("give the predictions of task 1, task 2 or both")
    tasks = [task for task, _ in given]
    target_table = read_targets(targets)
    case_ids = target_table.index.tolist()
    # One row per case: the evaluator hands each metric the columns it names (a cell may hold a probability vector).
    data = pd.DataFrame({"id": case_ids})
    submitted = {}
    for task, path in given:
        submitted[task.number] = read_predictions(path, task, case_ids)
        data[f"task{task.number}_pred"] = list(submitted[task.number])
        data[f"task{task.number}_target"] = target_table[task.target].to_numpy()

    out.mkdir(parents=True, exist_ok=True)
    if plots and importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no ROC curve plots (pip install 'fuse-eval[plot]')")
        plots = False
    metrics: dict[str, MetricBase] = {}
    for task in tasks:
        metrics.update(task_metrics(task, out, bootstraps, seed, plots))
    # The evaluator collects the data into every metric, evaluates them in order and writes results.{txt,json,md}.
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=out / "fuse_eval")

    table = results_table(results, tasks)
    save_dataframe(table, out / "results.csv", index=False)
    save_text_file(out / "results.md", markdown_report(table, tasks, plots))
    for task in tasks:
        labels = target_table[task.target].to_numpy()
        task_report(task, submitted[task.number], labels, out, bootstraps, seed, plots)
    return table


def main(argv: list[str] | None = None) -> int:
    """Score, print the table and where the reports went; a malformed file exits with status 2 and its error."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        table = score(args.targets, args.task1, args.task2, args.out, args.bootstraps, args.seed, not args.no_plots)
    except SubmissionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table.to_string(index=False, float_format="{:.3f}".format))
    print(f"scored in {time.perf_counter() - start:.1f} s ({args.bootstraps} bootstraps); reports in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
