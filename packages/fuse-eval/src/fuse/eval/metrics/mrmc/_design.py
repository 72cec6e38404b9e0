"""The design of a reader study read from a long table: tests, readers, cases and their truth, as integer codes and
rating arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fuse.eval.framework._inputs import InputError, binary_positive
from fuse.eval.framework._plain_values import plain_scalar

__all__ = []


_EXAMPLES = 5


class _Design:
    """A fully crossed reading design: ``ratings[i, j, k]`` of test i, reader j, case k, and each case's truth."""

    def __init__(
        self, ratings: np.ndarray, positive: np.ndarray, tests: list[Any], readers: list[Any], cases: int
    ) -> None:
        self.ratings = ratings
        self.positive = positive
        self.tests = tests
        self.readers = readers
        self.cases = cases

    @classmethod
    def from_frame(
        cls, data: Any, rating: str, truth: str, reader: str, test: str, case: str, pos_label: Any
    ) -> _Design:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame with one row per reading, got {type(data).__name__}")
        names = {"rating": rating, "truth": truth, "reader": reader, "test": test, "case": case}
        missing = [f"{argument}={column!r}" for argument, column in names.items() if column not in data.columns]
        if missing:
            raise ValueError(f"data has no column {', '.join(missing)}; its columns: {list(data.columns)}")
        if len(set(names.values())) < len(names):
            raise ValueError(f"rating, truth, reader, test and case must be different columns, got {names}")
        if data.empty:
            raise ValueError("data has no rows: nothing to analyse")
        for argument in ("reader", "test", "case"):
            _no_missing(data, names[argument], argument)
        test_codes, tests = _codes(data[test])
        reader_codes, reader_names = _codes(data[reader])
        case_codes, case_ids = _codes(data[case])
        if len({str(name) for name in tests}) < len(tests):  # comparisons are keyed "A - B" by text
            raise ValueError(
                f"test column {test!r} holds different values with the same text, {tests}, which the comparisons "
                "(keyed 'A - B') cannot tell apart; give the tests distinct names"
            )
        t, r, c = len(tests), len(reader_names), len(case_ids)
        cell = (test_codes * r + reader_codes) * c + case_codes
        counts = np.bincount(cell, minlength=t * r * c)
        if (counts > 1).any():
            repeated = np.flatnonzero(counts > 1)
            raise ValueError(
                f"{len(repeated)} reading(s) (reader, test, case) appear more than once, e.g. "
                f"{_cells(repeated[:_EXAMPLES], tests, reader_names, case_ids)} ({int(counts.max())} times): each "
                "reader must rate each case once per test (an MRMC analysis cannot be bootstrapped over readings)"
            )
        if (counts == 0).any():
            absent = np.flatnonzero(counts == 0)
            raise ValueError(
                f"the design is not fully crossed: {len(absent)} of the {t * r * c} readings of {r} readers x {t} "
                f"tests x {c} cases are missing, e.g. (reader, test, case) "
                f"{_cells(absent[:_EXAMPLES], tests, reader_names, case_ids)}; every reader must rate every case "
                "under every test (drop incomplete readers or cases first)"
            )
        ratings = np.empty(t * r * c)
        ratings[cell] = _ratings(data, rating, names)
        positive = _case_truth(data, truth, case, case_codes, c, pos_label)
        m, n = int(positive.sum()), int((~positive).sum())
        if m < 2 or n < 2:
            raise ValueError(
                f"an MRMC analysis of the AUC needs at least 2 positive and 2 negative cases, got {m} positive and "
                f"{n} negative (column {truth!r})"
            )
        if t < 2:
            raise ValueError(
                f"an MRMC comparison needs at least 2 tests (modalities), column {test!r} holds only {tests}"
            )
        return cls(ratings.reshape(t, r, c), positive, tests, reader_names, c)


def _no_missing(data: pd.DataFrame, column: str, argument: str) -> None:
    missing = data[column].isna().to_numpy()
    if missing.any():
        rows = data.index[missing][:_EXAMPLES].tolist()
        raise ValueError(
            f"{argument} column {column!r} has {int(missing.sum())} missing values, e.g. rows (index) {rows}; every "
            "reading needs its reader, test and case"
        )


def _codes(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """Integer codes of ``values`` and the distinct values they number, in sorted order (as text when unorderable)."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # mixed types: order by their text
        codes, uniques = pd.factorize(values.astype(str), sort=True)
    return codes.astype(np.int64), [plain_scalar(value) for value in uniques]


def _cells(cells: np.ndarray, tests: list[Any], readers: list[Any], cases: list[Any]) -> list[tuple[Any, Any, Any]]:
    """Flat cell numbers as (reader, test, case) names."""
    r, c = len(readers), len(cases)
    return [(readers[cell // c % r], tests[cell // (c * r)], cases[cell % c]) for cell in cells.tolist()]


def _ratings(data: pd.DataFrame, rating: str, names: Mapping[str, str]) -> np.ndarray:
    raw = data[rating]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        examples = data.loc[bad, [names["reader"], names["test"], names["case"]]].head(_EXAMPLES)
        shown = [tuple(plain_scalar(v) for v in row) for row in examples.itertuples(index=False)]
        kind = "text, missing or infinite" if raw[bad].notna().any() else "missing or infinite"
        raise ValueError(
            f"rating column {rating!r} has {int(bad.sum())} {kind} values, e.g. readings (reader, test, "
            f"case) {shown} with values {raw[bad].head(_EXAMPLES).tolist()}; ratings must be finite numbers"
        )
    return values


def _case_truth(
    data: pd.DataFrame, truth: str, case: str, case_codes: np.ndarray, cases: int, pos_label: Any
) -> np.ndarray:
    """Each case's truth (booleans, positive = True); two readings of a case that disagree raise."""
    try:
        positive = binary_positive(data[truth].to_numpy(), pos_label, argument=f"truth column {truth!r}")
    except InputError as error:
        rows = [] if error.positions is None else data.index[error.positions[:_EXAMPLES]].tolist()
        where = f", e.g. rows (index) {rows}" if rows else ""
        if "missing" in error.problem:
            fix = "; every case needs its truth"
        else:
            fix = "; give 0/1 (or booleans), or pass pos_label" if pos_label is None else ""
        raise ValueError(f"{error.argument} {error.problem}{where}{fix}") from None
    per_case = np.bincount(case_codes, weights=positive, minlength=cases)
    readings = np.bincount(case_codes, minlength=cases)
    mixed = (per_case > 0) & (per_case < readings)
    if mixed.any():
        ids = pd.unique(data[case].to_numpy()[mixed[case_codes]])[:_EXAMPLES].tolist()
        raise ValueError(
            f"truth column {truth!r} differs between readings of the same case for {int(mixed.sum())} cases, e.g. "
            f"cases {[plain_scalar(i) for i in ids]} (column {case!r}); a case has one truth"
        )
    case_positive: np.ndarray = per_case > 0
    return case_positive
