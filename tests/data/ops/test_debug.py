"""Debug ops: they report only on the selected samples, print to stdout and return the sample unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fuse.core import NDict, create_initial_sample
from fuse.data import OpDebugBase, OpPrintKeys, OpPrintKeysContent, OpPrintShapes, OpPrintTypes, PipelineDefault


def _sample(sample_id: str = "s1") -> NDict:
    sample = create_initial_sample(sample_id)
    sample["data.img"] = np.zeros((2, 3), dtype=np.float32)
    sample["data.seg"] = torch.ones(4, 5, dtype=torch.int64)
    sample["data.tokens"] = (1, 2, 3)
    sample["data.text"] = "hello"
    sample["data.label"] = 7
    return sample


class OpRecord(OpDebugBase):
    def __init__(self, name: str | None = None, sample_ids: list[object] | None = None, num_samples: int = 0) -> None:
        super().__init__(name, sample_ids, num_samples)
        self.seen: list[tuple[object, dict[str, object]]] = []

    def call_debug(self, sample_dict: NDict, **kwargs: object) -> None:
        self.seen.append((sample_dict["data.sample_id"], kwargs))


def test_selection_by_ids_and_count_and_reset() -> None:
    op = OpRecord(sample_ids=["b", "c", "d"], num_samples=2)
    for sample_id in "abcde":
        sample = _sample(sample_id)
        before = sample.to_dict()
        assert op(sample, level=1) is sample
        assert sample.to_dict().keys() == before.keys()
    assert op.seen == [("b", {"level": 1}), ("c", {"level": 1})]  # only listed ids, at most two
    op.reset()
    op(_sample("d"))
    assert op.seen[-1] == ("d", {})

    every = OpRecord()
    for sample_id in "abc":
        every(_sample(sample_id))
    assert [sid for sid, _ in every.seen] == ["a", "b", "c"]  # num_samples=0: no limit

    first = OpRecord(num_samples=1)
    assert first.should_debug_sample(_sample("a"))
    assert not first.should_debug_sample(_sample("b"))
    no_id = NDict({"x": 1})
    assert not OpRecord(sample_ids=["a"]).should_debug_sample(no_id)


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match="single value 'a'"):
        OpRecord(sample_ids="a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_samples"):
        OpRecord(num_samples=-1)
    with pytest.raises(TypeError, match="unexpected per-call kwargs"):
        OpPrintKeys()(_sample(), keys=["x"])
    with pytest.raises(TypeError, match="single string"):
        OpPrintKeysContent(keys="data.label")


def test_print_keys(capsys: pytest.CaptureFixture[str]) -> None:
    OpPrintKeys(name="after load")(_sample())
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "after load: Sample 's1' keys:"
    assert [line.strip() for line in out[1:]] == _sample().keypaths()


def test_print_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    OpPrintShapes()(_sample())
    out = capsys.readouterr().out
    assert "data.img is numpy array with shape: (2, 3)" in out
    assert "data.seg is tensor with shape: (4, 5)" in out
    assert "data.tokens is tuple with length: 3" in out
    assert "data.text" not in out
    assert "data.label" not in out
    OpPrintShapes(include_strings=True)(_sample())
    assert "data.text is string with length: 5" in capsys.readouterr().out
    OpPrintShapes()(_sample(), include_strings=True)  # FuseMedML's per-call argument
    assert "data.text is string with length: 5" in capsys.readouterr().out
    OpPrintShapes(include_strings=True)(_sample(), include_strings=False)
    assert "data.text" not in capsys.readouterr().out


def test_print_types(capsys: pytest.CaptureFixture[str]) -> None:
    OpPrintTypes()(_sample())
    out = capsys.readouterr().out
    assert "data.img - ndarray with dtype: float32" in out
    assert "data.seg - Tensor with dtype: torch.int64" in out
    assert "data.label - int\n" in out
    assert "data.tokens - tuple\n" in out


def test_print_keys_content(capsys: pytest.CaptureFixture[str]) -> None:
    OpPrintKeysContent()(_sample(), keys=["data.label", "data.nothing"])  # FuseMedML's per-call keys
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Sample 's1' content (<key> = <value>):",
        "    data.label = 7",
        "    WARNING: data.nothing is not in the sample",
    ]
    OpPrintKeysContent(keys=["data.tokens"])(_sample())
    assert "data.tokens = (1, 2, 3)" in capsys.readouterr().out
    OpPrintKeysContent(keys=["data"])(_sample())  # a prefix prints every key under it
    out_all = capsys.readouterr().out
    assert "data.text = hello" in out_all
    assert "data.label = 7" in out_all
    OpPrintKeysContent()(_sample(), keys=None)  # None: every key
    assert "data.initial_sample_id = s1" in capsys.readouterr().out


def test_in_a_pipeline_only_selected_samples_print_and_samples_are_unchanged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pipeline = PipelineDefault(
        "debug",
        [(OpPrintKeys(sample_ids=["s2"]), {}), (OpPrintShapes(num_samples=1), {"include_strings": True})],
    )
    outputs = []
    for sample_id in ["s1", "s2", "s3"]:
        result = pipeline(_sample(sample_id))
        assert isinstance(result, NDict)
        assert result.keypaths() == _sample(sample_id).keypaths()
        outputs.append(capsys.readouterr().out)
    assert "Sample 's1' shapes:" in outputs[0]
    assert "keys:" not in outputs[0]
    assert "Sample 's2' keys:" in outputs[1]
    assert "shapes" not in outputs[1]
    assert outputs[2] == ""


def test_cache_identity() -> None:
    def identity(op: OpDebugBase, **kwargs: object) -> str:
        return PipelineDefault("p", [(op, dict(kwargs))]).cache_identity()

    base = identity(OpPrintKeysContent(num_samples=1, keys=["a"]))
    assert base == identity(OpPrintKeysContent(num_samples=1, keys=["a"]))
    assert base != identity(OpPrintKeysContent(num_samples=2, keys=["a"]))
    assert base != identity(OpPrintKeysContent(num_samples=1, keys=["b"]))
    assert base != identity(OpPrintKeysContent(num_samples=1, keys=["a"]), keys=["c"])
    assert identity(OpPrintShapes()) != identity(OpPrintShapes(include_strings=True))
    assert identity(OpPrintKeys(sample_ids=["a"])) != identity(OpPrintKeys(sample_ids=["b"]))
    assert identity(OpPrintKeys()) != identity(OpPrintTypes())


def test_samples_seen_do_not_change_the_identity(capsys: pytest.CaptureFixture[str]) -> None:
    op = OpPrintKeys(num_samples=1)
    before = PipelineDefault("p", [(op, {})]).cache_identity()
    op(create_initial_sample("a"))  # counts one sample: the next process starts from zero, with the same cache
    assert PipelineDefault("p", [(op, {})]).cache_identity() == before
