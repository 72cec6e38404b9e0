"""C-index: lifelines' pair rules (checked against a literal pairwise reference and, when installed, lifelines),
FuseMedML's risk / time-unit / follow-up semantics, its examples 15-17, and the evaluator."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuse.eval import (
    CI,
    EvaluatorDefault,
    GroupAnalysis,
    MetricCIndex,
    MetricDefault,
    MetricExpectedCIndex,
    UndefinedMetricWarning,
    c_index,
    c_index_resampled,
    concordance_counts,
    concordance_index,
    expected_c_index,
)


def _pairwise_reference(times: np.ndarray, scores: np.ndarray, observed: np.ndarray) -> tuple[float, float, float]:
    """lifelines' ``_naive_concordance_summary_statistics``, pair by pair (written out independently here)."""
    correct = tied = pairs = 0.0
    n = len(times)
    for a in range(n):
        for b in range(a + 1, n):
            ta, tb, ea, eb, sa, sb = times[a], times[b], bool(observed[a]), bool(observed[b]), scores[a], scores[b]
            # a tie in time is informative only when exactly one of the two had the event
            valid = ea != eb if ta == tb else (ea and eb) or (ea and ta < tb) or (eb and tb < ta)
            if not valid:
                continue
            pairs += 1
            if sa == sb:
                tied += 1
            elif sa < sb:
                correct += (ta < tb) or (ta == tb and ea and not eb)
            else:
                correct += (ta > tb) or (ta == tb and not ea and eb)
    return correct, tied, pairs


# --- concordance counting -----------------------------------------------------------------------------------------


def test_hand_computed_counts() -> None:
    # events at t=1, 2, 4; the subject censored at t=3 is comparable only with the earlier events
    assert concordance_counts([1, 2, 3, 4], [1.0, 3.0, 2.0, 4.0], [1, 1, 0, 1]) == (4, 0, 5)
    assert concordance_index([1, 2, 3, 4], [1.0, 3.0, 2.0, 4.0], [1, 1, 0, 1]) == 0.8


def test_tied_predictions_count_one_half() -> None:
    assert concordance_counts([1, 2, 3], [5.0, 5.0, 5.0]) == (0, 3, 3)
    assert concordance_index([1, 2, 3], [5.0, 5.0, 5.0]) == 0.5
    assert concordance_index([1, 2, 3], [1.0, 2.0, 2.0]) == pytest.approx(2.5 / 3)


def test_tied_times() -> None:
    # two events at the same time: not comparable
    assert concordance_counts([2, 2], [1.0, 9.0], [1, 1]) == (0, 0, 0)
    # an event and a censoring at the same time: the event came first
    assert concordance_counts([2, 2], [1.0, 9.0], [1, 0]) == (1, 0, 1)
    assert concordance_counts([2, 2], [9.0, 1.0], [1, 0]) == (0, 0, 1)
    # two censorings, or a censoring before an event: not comparable
    assert concordance_counts([2, 2], [1.0, 9.0], [0, 0]) == (0, 0, 0)
    assert concordance_counts([1, 2], [1.0, 9.0], [0, 1]) == (0, 0, 0)


@settings(max_examples=250, deadline=None)
@given(
    st.integers(1, 25),
    st.integers(0, 2**32 - 1),
    st.integers(1, 6),
    st.integers(1, 6),
    st.floats(0.0, 1.0),
    st.booleans(),
)
def test_counts_equal_the_pairwise_rules(
    n: int, seed: int, distinct_times: int, distinct_scores: int, event_rate: float, continuous: bool
) -> None:
    rng = np.random.default_rng(seed)
    times = rng.integers(0, distinct_times, n).astype(float) + (rng.random(n) if continuous else 0.0)
    scores = rng.integers(0, distinct_scores, n) / distinct_scores
    observed = rng.random(n) < event_rate
    assert concordance_counts(times, scores, observed) == _pairwise_reference(times, scores, observed)


def test_large_input_matches_a_vectorised_pairwise_count() -> None:
    rng = np.random.default_rng(3)
    n = 2500
    times = np.round(rng.exponential(10, n), 1)
    scores = np.round(times + rng.normal(0, 5, n), 0)
    observed = rng.random(n) < 0.6
    later = (times[:, None] < times[None, :]) | ((times[:, None] == times[None, :]) & ~observed[None, :])
    comparable = observed[:, None] & later
    expected = (
        int((comparable & (scores[None, :] > scores[:, None])).sum()),
        int((comparable & (scores[None, :] == scores[:, None])).sum()),
        int(comparable.sum()),
    )
    assert concordance_counts(times, scores, observed) == expected


def test_matches_lifelines_when_installed() -> None:
    lifelines_utils = pytest.importorskip("lifelines.utils")
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(2, 60))
        times = rng.integers(0, 8, n).astype(float)
        scores = rng.integers(0, 5, n).astype(float)
        observed = (rng.random(n) < 0.7).astype(int)
        observed[0] = 1
        try:
            expected = lifelines_utils.concordance_index(times, scores, observed)
        except ZeroDivisionError:
            with pytest.warns(UndefinedMetricWarning):
                assert np.isnan(concordance_index(times, scores, observed))
            continue
        assert concordance_index(times, scores, observed) == pytest.approx(expected, abs=1e-15)


def test_without_comparable_pairs_the_c_index_is_nan() -> None:
    with pytest.warns(UndefinedMetricWarning, match="comparable pairs"):
        assert np.isnan(concordance_index([1, 2, 3], [0.1, 0.2, 0.3], [0, 0, 0]))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(concordance_index([4], [0.5]))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(concordance_index([], []))


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="predicted_scores holds NaN"):
        concordance_index([1, 2], [0.1, np.nan])
    with pytest.raises(ValueError, match="predicted_scores has 3 values for 2 samples"):
        concordance_index([1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="event_observed has 1 values"):
        concordance_index([1, 2], [0.1, 0.2], [1])
    with pytest.raises(ValueError, match="event_times must hold numbers"):
        concordance_index(np.array(["a", "b"], dtype=object), [0.1, 0.2])


# --- FuseMedML's c_index ------------------------------------------------------------------------------------------


def test_c_index_is_the_concordance_of_negated_risk() -> None:
    rng = np.random.default_rng(0)
    risk, times, observed = rng.random(40), rng.integers(1, 20, 40), rng.random(40) < 0.7
    assert c_index(risk, times, observed) == concordance_index(times, -risk, observed)
    assert c_index(-risk, times, observed) == pytest.approx(1 - c_index(risk, times, observed))


def test_time_unit_truncates_times_to_whole_units() -> None:
    risk, times, observed = [0.9, 0.2, 0.6, 0.1], [2, 9, 4, 7], [1, 0, 1, 1]
    assert c_index(risk, times, observed) == pytest.approx(5 / 6)
    # int(t / 5): 0, 1, 0, 1 -> the two early events tie, the late event and the censoring tie
    assert c_index(risk, times, observed, time_unit=5) == pytest.approx(4 / 5)
    assert c_index(risk, times, observed, time_unit=5) == concordance_index([0, 1, 0, 1], -np.array(risk), observed)
    assert c_index(risk, [2.5, 9.5, 4.5, 7.5], observed, time_unit=None) == pytest.approx(5 / 6)
    assert c_index(risk, [0.2, 0.9, 0.4, 0.7], observed, time_unit=None) == pytest.approx(5 / 6)
    assert c_index(risk, [0.2, 0.9, 0.4, 0.7], observed) != pytest.approx(5 / 6)  # all truncated to 0


def test_time_followup_censors_later_events() -> None:
    risk, times, observed = np.array([0.9, 0.2, 0.6, 0.1]), [2, 9, 4, 7], [1, 0, 1, 1]
    followed = c_index(risk, times, observed, time_followup=5)
    assert followed == concordance_index(times, -risk, [1, 0, 1, 0])
    assert followed == pytest.approx(1.0)  # the discordant pair (event at 7 vs censored at 9) is gone
    assert observed == [1, 0, 1, 1]  # inputs are not modified


def test_vector_predictions_use_the_event_class_column() -> None:
    times, observed = [1, 2, 3, 4], [1, 1, 1, 1]
    pred = np.array([[0.1, 0.9], [0.3, 0.7], [0.6, 0.4], [0.8, 0.2]])
    assert c_index(pred, times, observed) == 1.0  # last column = event class
    assert c_index(pred, times, observed, event_class_index=0) == 0.0
    column = np.empty(4, dtype=object)
    column[:] = list(pred)  # a collected column of per-sample vectors
    assert c_index(column, times, observed) == 1.0
    with pytest.raises(ValueError, match="event_class_index 2 is out of range for 2"):
        c_index(pred, times, observed, event_class_index=2)


def test_without_event_observed_every_event_counts() -> None:
    # FuseMedML's example 15 omitted event_observed and failed with a TypeError
    data = pd.DataFrame(
        {
            "pred": [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.6, 0.2, 0.7, 0.9],
            "event_times": [0, 0, 1, 1, 1, 0, 0, 1, 1, 1],
            "id": range(10),
            "gender": ["female"] * 5 + ["male"] * 5,
        }
    )
    metric = GroupAnalysis(MetricCIndex(pred="pred", event_times="event_times"), group="gender")
    results = EvaluatorDefault().eval(ids=None, data=data, metrics={"cindex_per_group": metric})
    # all events observed: the early events are the low-risk ones, so every comparable pair is discordant ...
    assert results["metrics.cindex_per_group.female"] == 0.0
    # ... except the male pairs (0.3 vs 0.2) and (0.6 vs 0.2): 2 of 6
    assert results["metrics.cindex_per_group.male"] == pytest.approx(2 / 6)
    assert c_index(data["pred"], data["event_times"]) == c_index(data["pred"], data["event_times"], np.ones(10))


def test_fusemedml_example_16_group_analysis() -> None:
    data = pd.DataFrame(
        {
            "pred": [0.1, 0.2, 0.6, 0.7, 0.8, 0.3, 0.6, 0.2, 0.7, 0.9],
            "event_observed": 1 - np.asarray([0, 0, 1, 1, 1, 0, 0, 1, 1, 1]),
            "event_times": [1] * 10,
            "id": range(10),
            "gender": ["female"] * 5 + ["male"] * 5,
        }
    )
    metric = MetricCIndex(pred="pred", event_times="event_times", event_observed="event_observed")
    results = EvaluatorDefault().eval(
        ids=None, data=data, metrics={"cindex_per_group": GroupAnalysis(metric, group="gender")}
    )
    assert results["metrics.cindex_per_group.male"] == 0.3333333333333333
    assert results["metrics.cindex_per_group.female"] == 0.0
    assert results["metrics.cindex_per_group.mean"] == pytest.approx(0.16666666666666666)
    assert results["metrics.cindex_per_group.std"] == pytest.approx(0.16666666666666666)


def test_fusemedml_example_17_toy() -> None:
    toy = pd.DataFrame(
        {
            "id": range(10),
            "pred": [0.1, 0.2, 0.3, 0.4, 0.5, 0.2, 0.1, 0.4, 0.3, 0.7],
            "event_observed": [0] * 5 + [1] * 5,
            "event_times": [1, 2, 3, 4, 5] * 2,
        }
    )
    metric = MetricCIndex(pred="data.pred", event_times="data.event_times", event_observed="data.event_observed")
    results = EvaluatorDefault().eval(ids=None, data={"data": toy}, metrics={"c_index_test": metric})
    assert results["metrics.c_index_test"] == 0.24


def test_metric_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="time_unit must be a positive number"):
        MetricCIndex(pred="p", event_times="t", time_unit=0)
    with pytest.raises(ValueError, match="time_followup must be a number"):
        MetricCIndex(pred="p", event_times="t", time_followup="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="event_class_index must be an integer"):
        MetricCIndex(pred="p", event_times="t", event_class_index=1.5)  # type: ignore[arg-type]


def test_c_index_in_bootstrap_and_batches() -> None:
    rng = np.random.default_rng(5)
    n = 60
    frame = pd.DataFrame(
        {"id": range(n), "risk": rng.random(n), "time": rng.integers(1, 30, n), "event": rng.random(n) < 0.7}
    )
    frame["time"] = np.where(frame["risk"] > 0.5, frame["time"] // 2, frame["time"])  # risk is informative
    metric = CI(
        MetricCIndex(pred="risk", event_times="time", event_observed="event", time_followup=20),
        stratum="event",
        num_of_bootstraps=100,
    )
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics={"c": metric})
    expected = c_index(frame["risk"], frame["time"], frame["event"], time_followup=20)
    assert results["metrics.c.org"] == expected
    assert results["metrics.c.conf_lower"] <= expected <= results["metrics.c.conf_upper"]
    # the same data as an iterator of samples, collated 7 at a time
    batched = EvaluatorDefault().eval(
        ids=None,
        data=iter(frame.to_dict("records")),
        metrics={"c": MetricCIndex(pred="risk", event_times="time", event_observed="event", time_followup=20)},
        batch_size=7,
    )
    assert batched["metrics.c"] == expected


def test_resampled_counts_equal_evaluating_each_resampling() -> None:
    rng = np.random.default_rng(11)
    n = 30
    times, scores = rng.integers(0, 10, n).astype(float), rng.integers(0, 6, n).astype(float)
    observed = rng.random(n) < 0.5
    rows = rng.integers(0, n, (300, n))
    rows[0] = np.flatnonzero(~observed)[0]  # one censored sample repeated: no comparable pair
    with pytest.warns(UndefinedMetricWarning, match="in 1 of 300 resamplings"):
        resampled = c_index_resampled(times, scores, observed, rows)
    assert np.isnan(resampled[0])
    for row, value in zip(rows[1:], resampled[1:], strict=True):
        assert value == concordance_index(times[row], scores[row], observed[row])


def test_bootstraps_are_vectorised_with_the_row_by_row_values() -> None:
    rng = np.random.default_rng(12)
    n = 80
    frame = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "risk": rng.random((n, 2)).tolist(),
            "time": rng.integers(1, 40, n),
            "event": rng.random(n) < 0.6,
        }
    )
    keys = {"pred": "risk", "event_times": "time", "event_observed": "event"}
    options = {"time_unit": 3, "time_followup": 10, "event_class_index": 0}
    metrics = {
        "fast": CI(MetricCIndex(**keys, **options), stratum="event", num_of_bootstraps=300, rnd_seed=3),
        "slow": CI(
            MetricDefault(functools.partial(c_index, **options), **keys),  # evaluated resampling by resampling
            stratum="event",
            num_of_bootstraps=300,
            rnd_seed=3,
        ),
    }
    results = EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics)
    assert results["metrics.fast"] == results["metrics.slow"]
    assert results["metrics.fast.org"] == c_index(
        np.array(frame["risk"].tolist()), frame["time"], frame["event"], **options
    )


# --- expected C-index ---------------------------------------------------------------------------------------------


def test_expected_c_index_uses_the_expected_bin() -> None:
    rng = np.random.default_rng(2)
    distribution = rng.dirichlet(np.ones(5), 30)
    times, observed = rng.integers(0, 5, 30), rng.random(30) < 0.8
    expected_bin = distribution @ np.arange(5)
    assert expected_c_index(distribution, times, observed) == concordance_index(times, expected_bin, observed)
    column = np.empty(30, dtype=object)
    column[:] = list(distribution)
    frame = pd.DataFrame({"id": range(30), "dist": list(distribution), "time": times, "event": observed})
    results = EvaluatorDefault().eval(
        ids=None,
        data=frame,
        metrics={"e": MetricExpectedCIndex(pred="dist", event_times="time", event_observed="event")},
    )
    assert results["metrics.e"] == expected_c_index(column, times, observed)
    boot = EvaluatorDefault().eval(
        ids=None,
        data=frame,
        metrics={
            "e": CI(MetricExpectedCIndex(pred="dist", event_times="time", event_observed="event"), None, 50),
            "ref": CI(
                MetricDefault(expected_c_index, pred="dist", event_times="time", event_observed="event"), None, 50
            ),
        },
    )
    assert boot["metrics.e"] == boot["metrics.ref"]
    with pytest.raises(ValueError, match="survival distribution"):
        expected_c_index([0.1, 0.2], [1, 2])


def test_a_nan_follow_up_time_raises() -> None:
    with pytest.raises(ValueError, match="time_followup must be a number"):
        c_index([0.1, 0.2], [1.0, 2.0], [1, 1], time_followup=float("nan"))
