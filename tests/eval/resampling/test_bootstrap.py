"""Bootstrap rows: stratified draws that replay FuseMedML's, and draws on ids grouped by stratum; percentile interval
indices.
"""

from __future__ import annotations

import numpy as np

from fuse.eval.resampling._bootstrap import bootstrap_rows
from fuse.eval.resampling._intervals import confidence_interval


def test_bootstrap_rows_stay_within_strata_and_replay_fusemedml_draws() -> None:
    strata = np.array([1, 0, 1, 1, 0])
    rows = np.concatenate(list(bootstrap_rows(strata, 3, rnd_seed=0)))
    rnd = np.random.RandomState(0)
    for row in rows:
        start = 0
        for stratum in (0, 1):  # np.unique order, each stratum's draws contiguous
            members = np.flatnonzero(strata == stratum)
            expected = members[rnd.randint(0, len(members), size=len(members))]
            assert np.array_equal(row[start : start + len(members)], expected)
            start += len(members)


def test_confidence_interval_percentile_indices() -> None:
    samples = np.arange(10000, dtype=float)
    assert confidence_interval("PERCENTILE", 0.0, samples, 95) == (250.0, 9750.0)


def test_draws_on_ids_grouped_by_stratum_pick_the_same_samples() -> None:
    """evaluate_bootstraps groups ids by stratum so draws are offsets; they must pick FuseMedML's samples."""
    strata = np.random.default_rng(1).choice(np.array(["b", "a", "c"]), 50)
    order = np.argsort(strata, kind="stable")
    gathered = np.concatenate(list(bootstrap_rows(strata, 30, 9)))
    offsets = np.concatenate(list(bootstrap_rows(strata[order], 30, 9)))
    assert np.array_equal(order[offsets], gathered)
