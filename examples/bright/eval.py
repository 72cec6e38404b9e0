"""The BRIGHT challenge scorer (FuseMedML's `bright/eval/eval.py`), built on fuse-eval.

BRIGHT (BReast tumor Image classification on Gigapixel HisTopathological images) asks for the subtype of a breast
lesion from a whole-slide image, at two levels:

- task 1, three classes: Noncancerous (pathological benign PB, usual ductal hyperplasia UDH), Precancerous (flat
  epithelial atypia FEA, atypical ductal hyperplasia ADH), Cancerous (ductal carcinoma in situ DCIS, invasive
  carcinoma IC);
- task 2, the six subtypes PB, UDH, FEA, ADH, DCIS, IC.

The scores, per task: the F1 of each class (one vs rest) and their macro average, computed from the submitted
``predicted_label``, and the multi-class Brier skill score (BSS) of the submitted class probabilities; each with a
95% bootstrap confidence interval (10,000 resamplings stratified by the target, seeded). Besides the challenge's
scores, each task gets a clinician-readable report (``fuse.eval.write_report``) of its probabilities: one-vs-rest
AUCs with bootstrap intervals, and accuracy and per-class sensitivity, specificity, PPV and NPV of the most probable
class with their counts and Wilson intervals, the confusion matrix and calibration.

File formats (CSV with a header; one row per image):

    targets            image_name, Task1-target (0-2), Task2-target (0-5)
    task 1 predictions image_name, predicted_label (0-2), Noncancerous-score, Precancerous-score, Cancerous-score
    task 2 predictions image_name, predicted_label (0-5), PB-score, UDH-score, FEA-score, ADH-score, DCIS-score,
                       IC-score

Scores are probabilities summing to 1 within 0.05 (FuseMedML's tolerance, which allows rounded CSV values); the BSS
uses each row divided by its sum. Every target image must appear exactly once in each prediction file, and nothing
else; Task1-target must be the group of Task2-target. A malformed file stops the scorer with an error naming the
file, the images (and their lines) and the column.

    python examples/bright/eval.py --help
    python examples/bright/eval.py --targets validation_targets.csv --task1 task1_predictions.csv \\
        --task2 task2_predictions.csv --out results/

Writes to --out: results.md (the challenge's tables), results.csv (one row per score: value, ci_lower,
ci_upper), fuse_eval/results.{txt,json,md} (every number fuse-eval computed) and report/task1/, report/task2/
(report.html, results.md, results.json and, unless --no-plots and with matplotlib, the figures).
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
    parser.add_argument("--targets", type=Path, required=True, help="targets CSV (image_name, Task1-, Task2-target)")
    parser.add_argument("--task1", type=Path, help="task 1 predictions CSV (image_name, predicted_label, 3 scores)")
    parser.add_argument("--task2", type=Path, help="task 2 predictions CSV (image_name, predicted_label, 6 scores)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results and reports")
    parser.add_argument("--bootstraps", type=int, default=10000, help="bootstrap resamplings per CI (default 10000)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the bootstrap resampling (default 1234)")
    parser.add_argument("--no-plots", action="store_true", help="no figures in the reports")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help and argument errors answer here, before the imports below (seconds)
    parse_args(sys.argv[1:])

try:
    import numpy as np
    import pandas as pd

    from fuse.core import NDict, save_dataframe, save_text_file
    from fuse.eval import CI, EvaluatorDefault, MetricBase, MetricBSS, MetricConfusion, ReportSettings, write_report
except ModuleNotFoundError as missing:  # one line naming the fix, not a traceback
    if missing.name not in {"numpy", "pandas", "fuse.core", "fuse.eval"}:
        raise
    raise SystemExit(
        f"{Path(__file__).name} needs fuse-eval ({missing}): pip install fuse-eval, or in a clone: "
        "pip install -e packages/fuse-core -e packages/fuse-eval"
    ) from None


IMAGE_NAME = "image_name"
PREDICTED_LABEL = "predicted_label"
TASK1_CLASS_NAMES = ("Noncancerous", "Precancerous", "Cancerous")  # aligned with Task1-target 0-2
TASK2_CLASS_NAMES = ("PB", "UDH", "FEA", "ADH", "DCIS", "IC")  # aligned with Task2-target 0-5
TASK1_OF_TASK2 = (0, 0, 1, 1, 2, 2)  # the task 1 group of each task 2 subtype
TARGET_COLUMNS = ("Task1-target", "Task2-target")
SUM_TOLERANCE = 0.05  # how far a row of probabilities may sum from 1 (FuseMedML's)
REPORT_DIR = "report"  # under --out: one report folder per task


class SubmissionError(ValueError):
    """A targets or predictions file that does not follow the challenge's format."""


@dataclass(frozen=True)
class Task:
    """One challenge task: its number and class names."""

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


def _rows(table: pd.DataFrame, mask: np.ndarray) -> str:
    """``image (line n)`` of the masked rows (line 1 is the header), for error messages."""
    return _some([f"{name} (line {line})" for name, line in zip(table.index[mask], table["_line"][mask], strict=True)])


def read_image_table(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV file with an `image_name` column and `columns`; every image present once. Indexed by image name,
    with the file's line of each row in ``_line``."""
    if not path.is_file():
        raise SubmissionError(f"{what} file {str(path)!r} not found")
    table = pd.read_csv(path, dtype={IMAGE_NAME: str})
    missing = [column for column in (IMAGE_NAME, *columns) if column not in table.columns]
    if missing:
        raise SubmissionError(f"{what} file {str(path)!r} lacks column(s) {missing}; it has {list(table.columns)}")
    table["_line"] = np.arange(len(table)) + 2  # the header is line 1
    if table[IMAGE_NAME].isna().any():
        lines = table.loc[table[IMAGE_NAME].isna(), "_line"].tolist()
        raise SubmissionError(f"{what} file {str(path)!r} has rows without an {IMAGE_NAME} (lines {_some(lines)})")
    duplicated = sorted(set(table.loc[table[IMAGE_NAME].duplicated(), IMAGE_NAME]))
    if duplicated:
        raise SubmissionError(f"{what} file {str(path)!r} lists image(s) more than once: {_some(duplicated)}")
    indexed: pd.DataFrame = table.set_index(IMAGE_NAME)
    return indexed


def _class_labels(table: pd.DataFrame, column: str, num_classes: int, what: str, path: Path) -> np.ndarray:
    """The integer class labels 0..num_classes-1 of `column`, or an error naming the images that hold others."""
    values = pd.to_numeric(table[column], errors="coerce")
    bad = ~values.isin(range(num_classes)).to_numpy()
    if bad.any():
        raise SubmissionError(
            f"{what} file {str(path)!r}: {column} must be an integer in 0..{num_classes - 1}; image(s) "
            f"{_rows(table, bad)} hold {_some(table[column][bad].tolist())}"
        )
    labels: np.ndarray = values.to_numpy().astype(int)
    return labels


def read_targets(path: Path) -> pd.DataFrame:
    """The targets, indexed by image name; checks the labels and that task 1 is the group of task 2."""
    targets = read_image_table(path, TARGET_COLUMNS, "targets")
    if targets.empty:
        raise SubmissionError(f"targets file {str(path)!r} has no images (a header only)")
    for task in (TASK1, TASK2):
        targets[task.target] = _class_labels(targets, task.target, len(task.class_names), "targets", path)
    expected = np.asarray(TASK1_OF_TASK2)[targets["Task2-target"].to_numpy()]
    inconsistent = targets["Task1-target"].to_numpy() != expected
    if inconsistent.any():
        raise SubmissionError(
            f"targets file {str(path)!r}: Task1-target must be the group of Task2-target (PB, UDH: 0; FEA, ADH: 1; "
            f"DCIS, IC: 2); image(s) {_rows(targets, inconsistent)} disagree"
        )
    return targets


@dataclass(frozen=True)
class Submission:
    """One task's checked predictions, in the order of the targets."""

    labels: np.ndarray  # predicted_label
    probabilities: np.ndarray  # [images, classes], each row divided by its sum
    renormalised: int  # rows whose sum was not 1 within 1e-6


def read_predictions(path: Path, task: Task, image_names: Sequence[str]) -> Submission:
    """The task's predicted labels and probabilities in the order of `image_names`, after checking that each image
    is there once (and no other), the labels, and that each row holds probabilities summing to 1 (within
    ``SUM_TOLERANCE``)."""
    what = f"task {task.number} predictions"
    table = read_image_table(path, [PREDICTED_LABEL, *task.score_columns], what)
    missing = [name for name in image_names if name not in table.index]
    if missing:
        raise SubmissionError(f"{what} file {str(path)!r} has no prediction for image(s) {_some(missing)}")
    extra = sorted(set(table.index) - set(image_names))
    if extra:
        raise SubmissionError(f"{what} file {str(path)!r} has image(s) that are not in the targets: {_some(extra)}")
    table = table.loc[list(image_names)]
    labels = _class_labels(table, PREDICTED_LABEL, len(task.class_names), what, path)
    scores = table[task.score_columns].apply(pd.to_numeric, errors="coerce")
    probabilities: np.ndarray = scores.to_numpy(dtype=float)
    outside = ~np.isfinite(probabilities) | (probabilities < 0) | (probabilities > 1)
    if outside.any():
        columns = [column for column, bad in zip(task.score_columns, outside.any(axis=0), strict=True) if bad]
        raise SubmissionError(
            f"{what} file {str(path)!r}: scores must be probabilities in [0, 1]; image(s) "
            f"{_rows(table, outside.any(axis=1))} have other values (or none) in column(s) {columns}"
        )
    sums = probabilities.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        bad = [f"{name} (sum {total:.4f})" for name, total in zip(table.index[off], sums[off], strict=True)]
        raise SubmissionError(
            f"{what} file {str(path)!r}: the columns {task.score_columns} of each row must sum to 1 (within "
            f"{SUM_TOLERANCE}); image(s) {_some(bad)} do not"
        )
    renormalised = int((np.abs(sums - 1.0) > 1e-6).sum())
    return Submission(labels, probabilities / sums[:, None], renormalised)


def task_metrics(task: Task, bootstraps: int, seed: int) -> dict[str, MetricBase]:
    """The fuse-eval metrics of one task, each wrapped in `CI` (bootstrap resampling stratified by the target): the
    one-vs-rest F1 of each class and their macro average from the predicted labels, and the Brier skill score of
    the probabilities."""
    n, target = task.number, f"task{task.number}_target"
    f1 = MetricConfusion(pred=f"task{n}_label", target=target, class_names=task.class_names, metrics=("f1",))
    bss = MetricBSS(pred=f"task{n}_probabilities", target=target)
    return {
        f"task{n}_f1": CI(f1, stratum=target, num_of_bootstraps=bootstraps, rnd_seed=seed),
        f"task{n}_bss": CI(bss, stratum=target, num_of_bootstraps=bootstraps, rnd_seed=seed),
    }


def results_table(results: NDict, tasks: Sequence[Task]) -> pd.DataFrame:
    """One row per score: ``Task<n>-F1`` (macro average), ``Task<n>-F1-<class>VsRest``, ``Task<n>-BSS``."""
    rows = []
    for task in tasks:
        n = task.number
        keys = [(f"task{n}_f1.f1.macro_avg", f"Task{n}-F1")]
        keys += [(f"task{n}_f1.f1.{name}", f"Task{n}-F1-{name}VsRest") for name in task.class_names]
        keys += [(f"task{n}_bss", f"Task{n}-BSS")]
        for key, label in keys:
            stat = results[f"metrics.{key}"]
            rows.append(
                {"score": label, "value": stat["org"], "ci_lower": stat["conf_lower"], "ci_upper": stat["conf_upper"]}
            )
    table: pd.DataFrame = pd.DataFrame(rows)
    return table


def markdown_report(table: pd.DataFrame, tasks: Sequence[Task]) -> str:
    """The challenge's results page: per task, F1 [95% CI], the per-class F1 table and the BSS."""
    shown = {row.score: f"{row.value:.3f} [{row.ci_lower:.3f}-{row.ci_upper:.3f}]" for row in table.itertuples()}
    titles = {1: "Task 1 - 3-class WSI classification", 2: "Task 2 - 6-class WSI classification"}
    lines = []
    for task in tasks:
        n = task.number
        columns = [f"Task{n}-F1"] + [f"Task{n}-F1-{name}VsRest" for name in task.class_names]
        lines += [f"# {titles[n]}", "", f"F1: {shown[f'Task{n}-F1']}", "", "## Multi-class F1", ""]
        lines += ["| " + " | ".join(c.removeprefix(f"Task{n}-") for c in columns) + " |", "|" + " --- |" * len(columns)]
        lines += [
            "| " + " | ".join(shown[c] for c in columns) + " |",
            "",
            "## BSS",
            "",
            f"BSS: {shown[f'Task{n}-BSS']}",
        ]
        lines += [""]
    return "\n".join(lines)


@dataclass(frozen=True)
class ReportArgs:
    """The bootstrap and figure settings shared by the scores and the reports."""

    bootstraps: int = 10000
    seed: int = 1234
    plots: bool = True


def task_report(task: Task, submission: Submission, labels: np.ndarray, out: Path, args: ReportArgs) -> Path | None:
    """Write the clinician-readable report of one task's probabilities to ``out/report/task<n>`` and return that
    folder; ``None`` (with the reason printed) when the targets lack a class, whose per-class numbers would be
    undefined. Its decisions are the most probable class; the challenge's F1 uses ``predicted_label``."""
    absent = [name for index, name in enumerate(task.class_names) if index not in set(labels.tolist())]
    if absent:
        print(f"no task {task.number} report: the targets have no image of {absent}", file=sys.stderr)
        return None
    notes = []
    disagree = int((submission.probabilities.argmax(axis=1) != submission.labels).sum())
    if disagree:
        notes.append(
            f"{disagree} of {len(labels)} images have a predicted_label other than their most probable class; this "
            "report's proportions use the most probable class, the challenge's F1 the predicted_label"
        )
    if submission.renormalised:
        notes.append(f"{submission.renormalised} rows of probabilities were divided by their sum (within 0.05 of 1)")
    settings = ReportSettings(
        threshold=None,
        threshold_rule="none: the class with the highest probability",
        proportion_ci="wilson",
        bootstraps=args.bootstraps,
        seed=args.seed,
        title=f"BRIGHT task {task.number}: {', '.join(task.class_names)}",
        description=f"{len(labels)} images of the targets file, scored from the submitted probabilities.",
        plots=args.plots,
    )
    folder = out / REPORT_DIR / f"task{task.number}"
    write_report(folder, submission.probabilities, labels, list(task.class_names), settings=settings, notes=notes)
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
    `task_report`) to `out` and return the results table. Figures are drawn when `plots` and matplotlib is
    installed."""
    given = [(task, path) for task, path in ((TASK1, task1), (TASK2, task2)) if path is not None]
    if not given:
        raise SubmissionError("give the predictions of task 1, task 2 or both")
    if bootstraps < 1:
        raise SubmissionError(f"--bootstraps must be >= 1, got {bootstraps}")
    tasks = [task for task, _ in given]
    target_table = read_targets(targets)
    image_names = target_table.index.tolist()
    # One row per image: the evaluator hands each metric the columns it names (a cell may hold a probability vector).
    data = pd.DataFrame({"id": image_names})
    submitted = {}
    for task, path in given:
        submission = read_predictions(path, task, image_names)
        submitted[task.number] = submission
        data[f"task{task.number}_label"] = submission.labels
        data[f"task{task.number}_probabilities"] = list(submission.probabilities)
        data[f"task{task.number}_target"] = target_table[task.target].to_numpy()

    out.mkdir(parents=True, exist_ok=True)
    if plots and importlib.util.find_spec("matplotlib") is None:
        print("matplotlib is not installed: no figures in the reports (pip install 'fuse-eval[plot]')")
        plots = False
    metrics: dict[str, MetricBase] = {}
    for task in tasks:
        metrics.update(task_metrics(task, bootstraps, seed))
    # The evaluator collects the data into every metric, evaluates them in order and writes results.{txt,json,md}.
    results = EvaluatorDefault().eval(ids=None, data=data, metrics=metrics, output_dir=out / "fuse_eval")

    table = results_table(results, tasks)
    save_dataframe(table, out / "results.csv", index=False)
    save_text_file(out / "results.md", markdown_report(table, tasks))
    for task in tasks:
        labels = target_table[task.target].to_numpy()
        task_report(task, submitted[task.number], labels, out, ReportArgs(bootstraps, seed, plots))
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
    print(f"scored in {time.perf_counter() - start:.1f} s ({args.bootstraps} bootstraps); results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
