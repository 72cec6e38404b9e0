"""ModelWrapSeqToDict and ModelWrapDictToSeq: the seed snippet, input/output mapping, attribute forwarding, errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fuse.core import NDict
from fuse.dl import MissingBatchKeyError, ModelWrapDictToSeq, ModelWrapSeqToDict
from fuse.dl._batch_keys import batch_value, batch_values


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 3)
        self.note = "tiny"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.fc(self.conv(x).amax(dim=(2, 3)))
        return result


class _Subtract(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return (a - b) * scale


def perform_softmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return logits, F.softmax(logits, dim=1)


def test_seed_snippet() -> None:
    torch_model = _TinyNet()
    model = ModelWrapSeqToDict(
        model=torch_model,
        model_inputs=["data.image"],
        post_forward_processing_function=perform_softmax,
        model_outputs=["model.logits.classification", "model.output.classification"],
    )
    image = torch.randn(2, 1, 6, 6)
    batch = model(NDict({"data": {"image": image}}))
    expected = torch_model(image)
    torch.testing.assert_close(batch["model.logits.classification"], expected)
    torch.testing.assert_close(batch["model.output.classification"], F.softmax(expected, dim=1))
    assert batch["data.image"] is image
    # FuseMedML's state dict keys: the wrapped model lives in `model`
    assert sorted(model.state_dict()) == ["model.conv.bias", "model.conv.weight", "model.fc.bias", "model.fc.weight"]
    model.zero_grad()
    batch["model.logits.classification"].sum().backward()
    assert all(p.grad is not None for p in torch_model.parameters())


def test_mapping_inputs_are_passed_by_keyword_with_extra_args() -> None:
    model = ModelWrapSeqToDict(model=_Subtract(), model_inputs={"b": "data.x", "a": "data.y"}, model_outputs=["out"])
    x, y = torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0])
    torch.testing.assert_close(model(NDict({"data.x": x, "data.y": y}))["out"], y - x)
    torch.testing.assert_close(model(NDict({"data.x": x, "data.y": y}), scale=2.0)["out"], (y - x) * 2)
    positional = ModelWrapSeqToDict(model=_Subtract(), model_inputs=["data.x", "data.y"], model_outputs=["out"])
    torch.testing.assert_close(positional(NDict({"data.x": x, "data.y": y}), 3.0)["out"], (x - y) * 3)


def test_pre_processing_and_output_mapping() -> None:
    calls: list[Any] = []

    def pre(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        calls.append(inputs)
        return [inputs[1], inputs[0]]

    model = ModelWrapSeqToDict(
        model=_Subtract(),
        model_inputs=["data.x", "data.y"],
        model_outputs=["model.a", None, "model.c"],
        pre_forward_processing_function=pre,
        post_forward_processing_function=lambda d: (d, d + 1, d + 2, d + 3),
    )
    x, y = torch.tensor([1.0]), torch.tensor([5.0])
    batch = model(NDict({"data.x": x, "data.y": y}))
    assert len(calls) == 1
    assert calls[0][0] is x
    torch.testing.assert_close(batch["model.a"], y - x)
    torch.testing.assert_close(batch["model.c"], y - x + 2)
    assert "model" in batch
    assert sorted(batch["model"].keypaths()) == ["a", "c"]  # the None key was skipped, the 4th output ignored


def test_single_output_key_stores_the_whole_output() -> None:
    model = ModelWrapSeqToDict(
        model=_Subtract(),
        model_inputs=["data.x", "data.y"],
        model_outputs=["model.pair"],
        post_forward_processing_function=perform_softmax,
    )
    batch = model(NDict({"data.x": torch.ones(2, 3), "data.y": torch.zeros(2, 3)}))
    assert isinstance(batch["model.pair"], tuple)
    assert len(batch["model.pair"]) == 2


def test_attributes_are_forwarded_to_the_wrapped_model() -> None:
    model = ModelWrapSeqToDict(model=_TinyNet(), model_inputs=["data.image"], model_outputs=["model.logits.h"])
    assert model.note == "tiny"
    assert model.fc is model.model.fc
    with pytest.raises(AttributeError, match="no_such_attribute"):
        _ = model.no_such_attribute


def test_wrapper_errors() -> None:
    with pytest.raises(TypeError, match=r"not a single str: write model_inputs=\['data.image'\]"):
        ModelWrapSeqToDict(model=_TinyNet(), model_inputs="data.image", model_outputs=["model.x"])  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match=r"model_outputs must be .* not a single str: write model_outputs=\[.model\.x.\]"
    ):
        ModelWrapSeqToDict(model=_TinyNet(), model_inputs=["data.image"], model_outputs="model.x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module, got function"):
        ModelWrapSeqToDict(model=perform_softmax, model_inputs=["data.image"], model_outputs=["x"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model_outputs is empty"):
        ModelWrapSeqToDict(model=_TinyNet(), model_inputs=["data.image"], model_outputs=[])
    with pytest.raises(TypeError, match="post_forward_processing_function must be callable"):
        ModelWrapSeqToDict(
            model=_TinyNet(), model_inputs=["a"], model_outputs=["b"], post_forward_processing_function=3
        )  # type: ignore[arg-type]

    batch = NDict({"data.image": torch.randn(2, 1, 5, 5)})
    two_keys = ModelWrapSeqToDict(model=_TinyNet(), model_inputs=["data.image"], model_outputs=["model.a", "model.b"])
    with pytest.raises(TypeError, match="must return a tuple of that many outputs; it returned a Tensor"):
        two_keys(batch)
    three_keys = ModelWrapSeqToDict(
        model=_TinyNet(),
        model_inputs=["data.image"],
        model_outputs=["a", "b", "c"],
        post_forward_processing_function=perform_softmax,
    )
    with pytest.raises(ValueError, match="the model returned 2 outputs but model_outputs names 3 keys"):
        three_keys(batch)


def test_missing_input_key_is_named() -> None:
    model = ModelWrapSeqToDict(model=_TinyNet(), model_inputs=["data.image"], model_outputs=["model.logits.h"])
    with pytest.raises(MissingBatchKeyError) as info:
        model(NDict({"data.img": torch.randn(2, 1, 5, 5)}))
    message = str(info.value)
    assert message.startswith("ModelWrapSeqToDict (model_inputs): the batch_dict has no key 'data.image'")
    assert "'data.img'" in message  # the closest existing keypath
    assert isinstance(info.value, KeyError)


def test_batch_value_with_plain_dict_says_how_to_nest() -> None:
    assert batch_value({"a.b": 1}, "a.b", "me") == 1
    with pytest.raises(
        KeyError, match=r"me: the batch_dict has no key 'data.x'; .*'data'; wrap a nested dict in fuse.core.NDict"
    ):
        batch_value({"data": {"x": 1}}, "data.x", "me")


def test_batch_values_reads_several_keys_and_names_the_missing_one() -> None:
    batch = NDict({"data.a": 1, "data.b": {"c": 2}})
    assert batch_values(batch, ["data.a", "data.b.c"], "me") == [1, 2]
    assert batch_values({"a": 1, "b": 2}, ["b", "a"], "me") == [2, 1]  # a plain dict too
    with pytest.raises(KeyError, match=r"^me: the batch_dict has no key 'data.bb' \(second\); similar keys present"):
        batch_values(batch, ["data.a", "data.bb"], "me", ["first", "second"])
    with pytest.raises(KeyError, match=r"'data.b' \(second\) is a prefix of several batch_dict keys"):
        batch_values(batch, ["data.a", "data.b"], "me", ["first", "second"])


def test_dict_to_seq() -> None:
    torch_model = _TinyNet()
    fuse_model = ModelWrapSeqToDict(
        model=torch_model,
        model_inputs=["data.image"],
        model_outputs=["model.logits.h", "model.output.h"],
        post_forward_processing_function=perform_softmax,
    )
    plain = ModelWrapDictToSeq(fuse_model, output_key="model.output.h", input_key="data.image")
    image = torch.randn(3, 1, 5, 5)
    torch.testing.assert_close(plain(image), F.softmax(torch_model(image), dim=1))
    assert plain.model is fuse_model
    plain(image).sum().backward()
    assert all(p.grad is not None for p in torch_model.parameters())
    wrong = ModelWrapDictToSeq(fuse_model, output_key="model.output.x", input_key="data.image")
    with pytest.raises(
        KeyError, match=r"ModelWrapDictToSeq \(output_key\): the batch_dict has no key 'model.output.x'"
    ):
        wrong(image)
    with pytest.raises(TypeError, match="input_key must be a batch_dict key"):
        ModelWrapDictToSeq(fuse_model, output_key="model.output.h", input_key=None)  # type: ignore[arg-type]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True])
def test_wrappers_on_gpu(autocast: bool) -> None:
    torch_model = _TinyNet().cuda()
    model = ModelWrapSeqToDict(
        model=torch_model,
        model_inputs=["data.image"],
        model_outputs=["model.logits.h", "model.output.h"],
        post_forward_processing_function=perform_softmax,
    )
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        batch = model(NDict({"data.image": torch.randn(2, 1, 6, 6, device="cuda")}))
        plain = ModelWrapDictToSeq(model, output_key="model.logits.h", input_key="data.image")(
            torch.randn(2, 1, 6, 6, device="cuda")
        )
    assert batch["model.logits.h"].dtype == (torch.bfloat16 if autocast else torch.float32)
    assert plain.is_cuda
    batch["model.logits.h"].float().sum().backward()
    assert all(p.grad is not None and p.grad.is_cuda for p in torch_model.parameters())
