"""``MetricCollector``: columnar collection by id, per-sample and batch functions, the distributed gather hook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.core import NDict
from fuse.eval import (
    GroupAnalysis,
    MetricAUCROC,
    MetricBase,
    MetricCollector,
    MetricDefault,
    MetricWithCollectorBase,
)


def test_ids_are_a_leaf_not_a_prefix_of_other_keys() -> None:
    # "id" names no leaf here, only the prefix of "id.site": the ids are data.sample_id
    collector = MetricCollector(pred="pred", target="target")
    batch = NDict({"id": {"site": ["x", "y"]}, "data.sample_id": ["a", "b"], "pred": [0.2, 0.9], "target": [0, 1]})
    collector.collect(batch)
    collector.collect({"id": ["c"], "pred": [0.4], "target": [1]})  # a plain dict: its "id" is the leaf
    assert collector.get_ids() == ["a", "b", "c"]


def test_ids_of_a_view_or_subclass_are_a_leaf_too() -> None:
    # the same rule when the batch is a view of a larger NDict, or an NDict subclass (not the one-lookup path)
    class Batch(NDict):
        pass

    collector = MetricCollector(pred="pred", target="target")
    outer = NDict({"run": {"id": {"site": ["x", "y"]}, "sample_id": ["a", "b"], "pred": [0.2, 0.9], "target": [0, 1]}})
    collector.collect(outer["run"])
    collector.collect(Batch({"id": {"site": ["z"]}, "sample_id": ["c"], "pred": [0.4], "target": [1]}))
    assert collector.get_ids() == ["a", "b", "c"]


def test_collector_batches_columnar_and_reordered() -> None:
    torch = pytest.importorskip("torch")
    collector = MetricCollector(pred="model.out", target="data.label")
    collector.collect(
        {
            "data": {"sample_id": ["a", "b"], "label": torch.tensor([0, 1])},
            "model": {"out": torch.tensor([[0.9, 0.1], [0.2, 0.8]], dtype=torch.float64)},
        }
    )
    collector.collect({"data": {"sample_id": ["c"], "label": [1]}, "model": {"out": np.array([[0.4, 0.6]])}})
    data = collector.get()
    assert data["pred"].shape == (3, 2)
    assert data["target"].tolist() == [0, 1, 1]
    assert collector.get_ids() == ["a", "b", "c"]
    assert collector.get(["c", "a", "c"])["target"].tolist() == [1, 0, 1]
    with pytest.raises(KeyError, match=r"1 of 2 requested ids are not in the collected data, e.g. \['zz'\]"):
        collector.get(["a", "zz"])


def test_collector_missing_key_and_duplicate_ids() -> None:
    collector = MetricCollector(pred="pred")
    with pytest.raises(KeyError, match="'pred' to collect is missing"):
        collector.collect({"id": [1], "prediction": [0.5]})
    collector.collect({"id": [1, 1], "pred": [0.1, 0.2]})
    with pytest.raises(ValueError, match="duplicated ids"):
        collector.get()


def test_collector_per_sample_functions_and_tuple_ids() -> None:
    def pre(sample: NDict) -> NDict:
        sample["pred"] = sample["pred"] * 2
        return sample

    collector = MetricCollector(
        pre_collect_process_func=pre,
        post_collect_process_func=lambda pred: {"double": pred},
        post_keys_to_collect=["double"],
        pred="pred",
    )
    collector.collect({"id": [("p1", 0), ("p1", 1)], "pred": np.array([1.0, 2.0])})
    assert collector.get([("p1", 1)])["double"].tolist() == [4.0]
    frame = pd.DataFrame({"id": ["x", "y"], "pred": [3.0, 4.0]})
    collector.set(frame)
    assert collector.get()["double"].tolist() == [6.0, 8.0]
    # without post_keys_to_collect a per-sample result is kept whole, dict or not (FuseMedML's post_args)
    whole = MetricCollector(post_collect_process_func=lambda pred: {"double": 2 * pred}, pred="pred")
    whole.set(frame)
    assert whole.get()["post_args"].tolist() == [{"double": 6.0}, {"double": 8.0}]


def test_collector_gather_hook_sees_ids_and_values() -> None:
    seen = []

    def gather(local: dict[str, list[Any]]) -> dict[str, list[Any]]:
        seen.append(sorted(local))
        other: dict[str, list[Any]] = {"id": [f"{i}'" for i in local["id"]], "pred": [0.5 for _ in local["pred"]]}
        return {key: values + other[key] for key, values in local.items()}  # as if a second rank sent `other`

    collector = MetricCollector(gather_func=gather, pred="pred")
    collector.collect({"id": ["a"], "pred": [0.3]})
    collector.collect({"id": ["b"], "pred": [0.4]})
    assert seen == []  # not per batch: once, when the data is read
    assert collector.get_ids() == ["a", "b", "a'", "b'"]
    assert collector.get()["pred"].tolist() == [0.3, 0.4, 0.5, 0.5]
    assert seen == [["id", "pred"]]
    local_only = MetricCollector(gather_func=gather, collect_distributed=False, pred="pred")
    local_only.collect({"id": ["a"], "pred": [0.3]})
    assert local_only.get_ids() == ["a"]


def _count(pred: np.ndarray) -> int:
    return len(pred)


def test_distributed_gather_keeps_the_first_of_repeated_ids_through_wrappers() -> None:
    # two ranks; the distributed sampler padded rank 1's last batch with sample "a" again
    rank_batches = [
        ({"id": ["a", "b"], "pred": [0.9, 0.2], "target": [1, 0]}),
        ({"id": ["c", "a"], "pred": [0.8, 0.9], "target": [1, 1]}),
    ]

    def gather(local: dict[str, list[Any]]) -> dict[str, list[Any]]:
        other = rank_batches[1]  # what rank 1 sends: its values of each collected name ("group" collects "id")
        return {name: values + list(other["id" if name == "group" else name]) for name, values in local.items()}

    auc = MetricDefault(
        metric_func=lambda pred, target: (len(pred), float(np.mean(pred))), pred="pred", target="target"
    )
    grouped = GroupAnalysis(MetricDefault(metric_func=_count, pred="pred"), group="id")
    for metric in (auc, grouped):
        metric.set_distributed_gather(gather)
        metric.collect(rank_batches[0])
    assert auc.eval() == (3, pytest.approx((0.9 + 0.2 + 0.8) / 3))  # "a" counted once
    assert grouped.eval()["a"] == 1
    plain = MetricDefault(metric_func=_count, pred="pred", gather_func=gather)
    plain.collect(rank_batches[0])
    with pytest.raises(ValueError, match="duplicated ids"):  # without the DDP set-up, a repeated id is an error
        plain.eval()

    class OwnCollection(MetricBase):
        def collect(self, batch: Mapping[str, Any]) -> None: ...

        def set(self, data: pd.DataFrame) -> None: ...

        def reset(self) -> None: ...

        def eval(self, results: Mapping[str, Any] | None = None, ids: Any = None) -> Any:
            return None

    with pytest.warns(RuntimeWarning, match="OwnCollection does not implement set_distributed_gather"):
        OwnCollection().set_distributed_gather(gather)


def test_external_collector_is_shared() -> None:
    shared = MetricCollector(pred="pred", target="target")
    shared.set(pd.DataFrame({"id": [1, 2, 3, 4], "pred": [0.1, 0.4, 0.35, 0.8], "target": [0, 0, 1, 1]}))
    metric = MetricAUCROC(pred="pred", target="target", external_data_collector=shared)
    metric.reset()  # the owner of the collector resets it, not the metric
    assert metric.eval() == 0.75
    assert isinstance(metric, MetricWithCollectorBase)


@pytest.mark.parametrize("via", ["collect", "set"])
@pytest.mark.parametrize("per_sample", [False, True])
def test_batch_post_collect_runs_on_every_path(via: str, per_sample: bool) -> None:
    collector = MetricCollector(
        pre_collect_process_func=(lambda sample: sample) if per_sample else None,
        batch_post_collect_process_func=lambda pred: {"pred": np.asarray(pred) * 10},
        pred="pred",
    )
    if via == "collect":
        collector.collect({"id": ["a", "b"], "pred": [0.1, 0.2]})
    else:
        collector.set(pd.DataFrame({"id": ["a", "b"], "pred": [0.1, 0.2]}))
    assert collector.get(["b", "a"])["pred"].tolist() == pytest.approx([2.0, 1.0])  # FuseMedML-style hook applied
    assert collector.get_ids() == ["a", "b"]


def test_collector_keeps_numeric_batches_as_arrays_and_joins_ragged_ones() -> None:
    collector = MetricCollector(pred="pred", mask="mask")
    collector.collect({"id": [0, 1], "pred": np.array([[0.1, 0.9], [0.8, 0.2]]), "mask": np.zeros((2, 3, 3))})
    collector.collect({"id": [2], "pred": np.array([[0.4, 0.6]]), "mask": np.zeros((1, 4, 4))})
    data = collector.get()
    assert data["pred"].shape == (3, 2)
    assert data["pred"][2].tolist() == [0.4, 0.6]
    assert data["mask"].dtype == object  # per-sample masks of different shapes stay per sample
    assert [m.shape for m in data["mask"]] == [(3, 3), (3, 3), (4, 4)]
    per_batch = MetricCollector(total="total", collect_ids=False)
    per_batch.collect({"total": np.float64(3.0)})
    per_batch.collect({"total": 5})
    assert per_batch.get()["total"].tolist() == [3.0, 5.0]  # one value per batch


def test_collector_is_not_a_metric_and_metrics_still_use_it_as_before() -> None:
    # a collector gathers data for a metric; it is no MetricBase (that made _metric_base and _collector import each
    # other), yet keeps its public methods, eval included
    assert not issubclass(MetricCollector, MetricBase)
    collector = MetricCollector(pred="pred")
    collector.collect({"id": ["a", "b"], "pred": [0.1, 0.2]})
    assert collector.eval(ids=["b"])["pred"].tolist() == [0.2]
    metric = MetricDefault(lambda pred: float(np.sum(pred)), pred="pred", external_data_collector=collector)
    assert metric.eval() == pytest.approx(0.3)
