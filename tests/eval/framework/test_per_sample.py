"""``PerSampleData``: values tied to ids, realigned by id."""

from __future__ import annotations

import numpy as np
import pytest

from fuse.eval import (
    MetricApplyTemperature,
    MetricApplyThresholds,
    MetricBase,
    MetricEnsemble,
    PerSampleData,
)


def test_per_sample_data() -> None:
    data = PerSampleData(np.array([[1, 2], [3, 4]]), ids=["x", "y"])
    assert data(["y"]).tolist() == [[3, 4]]
    assert len(data) == 2
    with pytest.raises(ValueError, match="2 values for 3 ids"):
        PerSampleData([1, 2], ids=["a", "b", "c"])


@pytest.mark.parametrize(
    ("make", "output"),
    [
        (lambda: MetricApplyThresholds(pred="pred", operation_point=0.5), "cls_pred"),
        (lambda: MetricApplyTemperature(pred="pred", temperature=2.0), None),
        (lambda: MetricEnsemble(pred_keys=["pred", "other"], target="target"), "preds"),
    ],
    ids=["MetricApplyThresholds", "MetricApplyTemperature", "MetricEnsemble"],
)
def test_a_per_sample_output_is_computed_once_per_id_under_resampling(make: object, output: str | None) -> None:
    # a bootstrap repeats ids: every occurrence gets its sample's value (these raised "duplicated ids" before, but
    # for MetricEnsemble)
    metric = make()  # type: ignore[operator]
    assert isinstance(metric, MetricBase)
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    metric.collect(
        {"id": list(ids), "pred": [0.2, 0.7, 0.9, 0.4], "other": [0.3, 0.6, 0.8, 0.1], "target": [0, 1, 1, 0]}
    )
    resampled = ids[[2, 0, 2, 2, 1]]
    whole, drawn = metric.eval(ids=ids), metric.eval(ids=resampled)
    if output is not None:
        whole, drawn = whole[output], drawn[output]
    assert len(drawn) == 3  # one value per distinct id
    np.testing.assert_array_equal(drawn(resampled), whole(resampled))
    [at_rows] = metric.eval_resampled(None, ids, np.array([[2, 0, 2, 2, 1]]))
    np.testing.assert_array_equal((at_rows[output] if output else at_rows)(resampled), whole(resampled))
