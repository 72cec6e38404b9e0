"""EvaluatorDefault: every input form, id handling, batch modes and the report files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fuse.eval import EvaluatorDefault, MetricAUCROC, MetricDefault


def count(pred: np.ndarray) -> int:
    return len(pred)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c", "d"], "pred": [0.1, 0.4, 0.35, 0.8], "target": [0, 0, 1, 1]})


def _auc() -> dict[str, MetricAUCROC]:
    return {"auc": MetricAUCROC(pred="pred", target="target")}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".pkl", ".gz"])
def test_file_inputs(tmp_path: Path, frame: pd.DataFrame, suffix: str) -> None:
    from fuse.core import save_dataframe

    path = tmp_path / f"data{suffix}"
    save_dataframe(frame, path, **({"index": False} if suffix in (".csv", ".tsv") else {}))
    assert EvaluatorDefault().eval(ids=None, data=str(path), metrics=_auc())["metrics.auc"] == 0.75


def test_ids_filter_and_missing_ids(frame: pd.DataFrame) -> None:
    ids = ["a", "c", "d"]
    results = EvaluatorDefault().eval(ids=ids, data=frame, metrics=_auc())
    assert results["metrics.auc"] == 1.0
    with pytest.raises(KeyError, match=r"1 of 2 requested ids are not in the data, e.g. \['zz'\]"):
        EvaluatorDefault().eval(ids=["a", "zz"], data=frame, metrics=_auc())
    subset = EvaluatorDefault().eval(ids=["a", "c", "zz"], data=frame, metrics=_auc(), error_missing_ids=False)
    assert subset["metrics.auc"] == 1.0


def test_duplicate_ids_are_listed(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"1 ids appear more than once in the data, e.g. \['a'\]"):
        EvaluatorDefault().eval(ids=None, data=pd.concat([frame, frame.iloc[:1]]), metrics=_auc())


def test_missing_id_column_names_it(frame: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="has no 'case' column"):
        EvaluatorDefault().eval(ids=None, data=frame, metrics=_auc(), id_key="case")


def test_dict_sources_join_raise_or_pad(frame: pd.DataFrame) -> None:
    preds = frame[["id", "pred"]]
    targets = frame[["id", "target"]].iloc[:3]
    metric = {"auc": MetricAUCROC(pred="p.pred", target="t.target")}
    with pytest.raises(KeyError, match=r"1 ids are missing in data\['t'\].*\['d'\]"):
        EvaluatorDefault().eval(ids=None, data={"p": preds, "t": targets}, metrics=metric)
    padded = EvaluatorDefault().eval(
        ids=None,
        data={"p": preds, "t": targets},
        metrics={"n": MetricDefault(count, pred="t.target")},
        error_missing_ids=False,
    )
    assert padded["metrics.n"] == 4


def test_iterable_of_samples_and_batch_modes(frame: pd.DataFrame) -> None:
    records = frame.to_dict("records")
    assert EvaluatorDefault().eval(ids=None, data=iter(records), metrics=_auc())["metrics.auc"] == 0.75
    samples = [{"data": {"sample_id": r["id"]}, "pred": r["pred"], "target": r["target"]} for r in records]
    by_sample = EvaluatorDefault().eval(
        ids=None, data=iter(samples), metrics=_auc(), id_key="data.sample_id", batch_size=3
    )
    assert by_sample["metrics.auc"] == 0.75
    batches = [
        {"id": ["a", "b"], "pred": np.array([0.1, 0.4]), "target": np.array([0, 0])},
        {"id": ["c", "d"], "pred": np.array([0.35, 0.8]), "target": np.array([1, 1])},
    ]
    assert EvaluatorDefault().eval(ids=None, data=batches, metrics=_auc(), batch_size=0)["metrics.auc"] == 0.75
    with pytest.raises(TypeError, match=r"element 0 .* holds 2 ids under 'id': it is a batch.*batch_size=0"):
        EvaluatorDefault().eval(ids=None, data=batches, metrics=_auc())  # batch_size forgotten
    tuple_ids = [{"id": ("mnist", i), "pred": r["pred"], "target": r["target"]} for i, r in enumerate(records)]
    assert EvaluatorDefault().eval(ids=None, data=tuple_ids, metrics=_auc())["metrics.auc"] == 0.75
    with pytest.raises(TypeError, match="iterable of sample dicts"):
        EvaluatorDefault().eval(ids=None, data=frame, metrics=_auc(), batch_size=2)
    with pytest.raises(KeyError, match="sample #0 has no 'case' key"):
        EvaluatorDefault().eval(ids=None, data=iter(samples), metrics=_auc(), id_key="case", batch_size=2)


def test_evaluating_twice_does_not_accumulate(frame: pd.DataFrame) -> None:
    metrics = {"n": MetricDefault(count, pred="pred")}
    batches = [{"id": ["a", "b"], "pred": [0.1, 0.2]}]
    evaluator = EvaluatorDefault()
    assert evaluator.eval(ids=None, data=batches, metrics=metrics, batch_size=0)["metrics.n"] == 2
    assert evaluator.eval(ids=None, data=batches, metrics=metrics, batch_size=0)["metrics.n"] == 2


def test_unsupported_data_and_batch_size(frame: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="unsupported data of type int"):
        EvaluatorDefault().eval(ids=None, data=5, metrics=_auc())
    with pytest.raises(ValueError, match="batch_size"):
        EvaluatorDefault().eval(ids=None, data=frame, metrics=_auc(), batch_size=-1)


def test_output_files_and_printed_table(
    tmp_path: Path, frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = {"auc": MetricAUCROC(pred="pred", target="target"), "_internal": MetricDefault(count, pred="pred")}
    EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics, output_dir=tmp_path / "report", silent=False)
    printed = capsys.readouterr().out
    assert "| metrics.auc | 0.75 |" in printed
    assert "_internal" not in printed
    assert (tmp_path / "report" / "results.txt").read_text() == "metrics.auc: 0.75\n"
    assert json.loads((tmp_path / "report" / "results.json").read_text()) == {"metrics": {"auc": 0.75}}
    assert "| metrics.auc | 0.75 |" in (tmp_path / "report" / "results.md").read_text()


def test_results_json_is_strict_json_with_undefined_values_as_null(tmp_path: Path, frame: pd.DataFrame) -> None:
    def undefined(pred: np.ndarray) -> dict[str, Any]:
        return {"value": float("nan"), "bounds": (np.float64("nan"), np.float32(0.5)), "count": np.int64(3)}

    metrics = {"odd": MetricDefault(undefined, pred="pred")}
    EvaluatorDefault().eval(ids=None, data=frame, metrics=metrics, output_dir=tmp_path)

    def refuse(constant: str) -> None:
        raise AssertionError(f"results.json holds {constant}, which is not JSON")

    loaded = json.loads((tmp_path / "results.json").read_text(), parse_constant=refuse)
    assert loaded == {"metrics": {"odd": {"value": None, "bounds": [None, 0.5], "count": 3}}}
    assert "nan" in (tmp_path / "results.md").read_text()  # the readable table still says what it is


def test_metric_errors_name_the_metric(frame: pd.DataFrame) -> None:
    def broken(pred: np.ndarray) -> float:
        raise ValueError("cannot score")

    with pytest.raises(ValueError, match="cannot score") as info:
        EvaluatorDefault().eval(ids=None, data=frame, metrics={"mine": MetricDefault(broken, pred="pred")})
    notes = getattr(info.value, "__notes__", ["while running eval() of metric 'mine'"])
    assert notes == ["while running eval() of metric 'mine'"]
