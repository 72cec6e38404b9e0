"""LossBase, LossDefault, LossWarmUp, LossWrapToDict and LossExtractFromBatchDict: values against torch.nn.functional,
weights applied out of place, warm-up counting (training calls only, saved in the state dict), errors that name the
missing key and the shapes, gradients, float64, and (cuda-marked) GPU and bf16 autocast."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fuse.core import NDict
from fuse.dl import LossBase, LossDefault, LossExtractFromBatchDict, LossWarmUp, LossWrapToDict


def _batch(dtype: torch.dtype = torch.float32, requires_grad: bool = True) -> NDict:
    torch.manual_seed(0)
    logits = torch.randn(6, 3, dtype=dtype, requires_grad=requires_grad)
    return NDict({"model": {"logits": {"classification": logits}}, "data": {"label": torch.tensor([0, 1, 2, 2, 1, 0])}})


def _leaf(batch: NDict) -> torch.Tensor:
    return batch["model.logits.classification"]


# ---------------------------------------------------------------- LossBase


def test_loss_base_is_abstract() -> None:
    class NoForward(LossBase):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoForward()  # type: ignore[abstract]

    class Mean(LossBase):
        def forward(self, batch_dict: NDict) -> torch.Tensor:
            return batch_dict["x"].mean()

    assert isinstance(Mean(), nn.Module)
    assert Mean()(NDict({"x": torch.tensor([1.0, 3.0])})).item() == 2.0


# ---------------------------------------------------------------- LossDefault


def test_loss_default_seed_snippet_equals_cross_entropy_and_its_gradient() -> None:
    batch = _batch()
    loss = LossDefault(pred="model.logits.classification", target="data.label", callable=F.cross_entropy, weight=1.0)
    value = loss(batch)
    reference_input = _leaf(batch).detach().clone().requires_grad_(True)
    reference = F.cross_entropy(reference_input, batch["data.label"])
    torch.testing.assert_close(value, reference)
    value.backward()
    reference.backward()
    torch.testing.assert_close(_leaf(batch).grad, reference_input.grad)


@pytest.mark.parametrize("weight", [None, 0.5, 3])
def test_loss_default_weight_scales_the_loss(weight: float | None) -> None:
    batch = _batch()
    value = LossDefault(
        pred="model.logits.classification", target="data.label", callable=F.cross_entropy, weight=weight
    )(batch)
    expected = F.cross_entropy(_leaf(batch), batch["data.label"]) * (1.0 if weight is None else weight)
    torch.testing.assert_close(value, expected)


def test_loss_default_weight_is_not_applied_in_place() -> None:
    # exp() saves its output for the backward pass: an in-place `loss *= weight` (FuseMedML) makes backward fail
    batch = _batch()
    returned: list[torch.Tensor] = []

    def exp_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = F.cross_entropy(pred, target).exp()
        returned.append(out)
        return out

    value = LossDefault(pred="model.logits.classification", target="data.label", callable=exp_loss, weight=2.0)(batch)
    unweighted = F.cross_entropy(_leaf(batch).detach(), batch["data.label"]).exp()
    torch.testing.assert_close(returned[0].detach(), unweighted)  # the callable's output is untouched
    torch.testing.assert_close(value.detach(), 2.0 * unweighted)
    value.backward()
    reference_input = _leaf(batch).detach().clone().requires_grad_(True)
    (2.0 * F.cross_entropy(reference_input, batch["data.label"]).exp()).backward()
    torch.testing.assert_close(_leaf(batch).grad, reference_input.grad)


def test_loss_default_preprocess_func_filters_the_batch() -> None:
    batch = _batch(requires_grad=False)
    batch["data.label"] = torch.tensor([0, -1, 2, -1, 1, 0])
    loss = LossDefault(
        pred="model.logits.classification",
        target="data.label",
        callable=F.cross_entropy,
        preprocess_func=lambda b: b.indices(b["data.label"] >= 0),
    )
    keep = torch.tensor([0, 2, 4, 5])
    expected = F.cross_entropy(_leaf(batch)[keep], batch["data.label"][keep])
    torch.testing.assert_close(loss(batch), expected)


def test_loss_default_preprocess_func_must_return_the_batch() -> None:
    loss = LossDefault(
        pred="model.logits.classification", target="data.label", callable=F.cross_entropy, preprocess_func=print
    )
    with pytest.raises(TypeError, match="preprocess_func must return the"):
        loss(_batch())


def test_loss_default_missing_key_names_it_and_the_similar_keys() -> None:
    loss = LossDefault(pred="model.logits.clasification", target="data.label", callable=F.cross_entropy)
    with pytest.raises(KeyError) as info:
        loss(_batch())
    message = str(info.value)
    assert "'model.logits.clasification'" in message
    assert "(pred)" in message
    assert "similar keys present: 'model.logits.classification'" in message


def test_loss_default_missing_target_names_its_role() -> None:
    # both keys are read in one call: the error still names the missing one and its role
    loss = LossDefault(pred="model.logits.classification", target="data.labl", callable=F.cross_entropy)
    with pytest.raises(
        KeyError, match=r"LossDefault: the batch_dict has no key 'data.labl' \(target\); .*'data.label'"
    ):
        loss(_batch())


def test_loss_default_prefix_key_is_an_error_not_a_view() -> None:
    loss = LossDefault(pred="model.logits", target="data.label", callable=F.cross_entropy)
    with pytest.raises(KeyError, match=r"'model.logits' \(pred\) is a prefix .*'model.logits.classification'"):
        loss(_batch())


def test_loss_default_works_on_a_plain_dict() -> None:
    batch = _batch(requires_grad=False)
    plain = {"logits": _leaf(batch), "label": batch["data.label"]}
    value = LossDefault(pred="logits", target="label", callable=F.cross_entropy)(plain)
    torch.testing.assert_close(value, F.cross_entropy(plain["logits"], plain["label"]))
    with pytest.raises(KeyError, match=r"no key 'lable' .*similar keys present: 'label'"):
        LossDefault(pred="logits", target="lable", callable=F.cross_entropy)(plain)


def test_loss_default_shape_mismatch_names_both_keys_and_shapes() -> None:
    batch = _batch(requires_grad=False)
    batch["data.label"] = torch.tensor([0, 1, 2, 2, 1])
    loss = LossDefault(pred="model.logits.classification", target="data.label", callable=F.cross_entropy)
    with pytest.raises(ValueError, match=r"'model.logits.classification': shape \[6, 3\].*'data.label': shape \[5\]"):
        loss(batch)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pred": None}, "pred must be a batch_dict key"),
        ({"target": ""}, "target must be a batch_dict key"),
        ({"callable": "cross_entropy"}, "callable must be callable"),
        ({"preprocess_func": 3}, "preprocess_func must be callable"),
    ],
)
def test_loss_default_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"pred": "p", "target": "t", "callable": F.mse_loss, **kwargs}
    with pytest.raises(TypeError, match=message):
        LossDefault(**arguments)


def test_loss_default_float64() -> None:
    batch = _batch(dtype=torch.float64)
    value = LossDefault(pred="model.logits.classification", target="data.label", callable=F.cross_entropy, weight=0.3)(
        batch
    )
    assert value.dtype == torch.float64
    torch.testing.assert_close(value, 0.3 * F.cross_entropy(_leaf(batch), batch["data.label"]), rtol=1e-12, atol=0)


# ---------------------------------------------------------------- LossWarmUp


def _mse_batch(dtype: torch.dtype = torch.float32) -> NDict:
    return NDict({"pred": torch.tensor([1.0, 2.0], dtype=dtype, requires_grad=True), "y": torch.zeros(2, dtype=dtype)})


def _mse() -> LossDefault:
    return LossDefault(pred="pred", target="y", callable=F.mse_loss)


def test_loss_warm_up_zero_for_n_training_calls_then_the_loss() -> None:
    batch = _mse_batch()
    warm = LossWarmUp(_mse(), nof_iterations=3)
    values = [warm(batch) for _ in range(5)]
    assert [v.item() for v in values[:3]] == [0.0, 0.0, 0.0]
    assert not values[0].requires_grad  # a constant: no gradient during the warm-up
    expected = F.mse_loss(batch["pred"], batch["y"])
    torch.testing.assert_close(values[3], expected)
    values[4].backward()
    torch.testing.assert_close(batch["pred"].grad, batch["pred"].detach())  # d/dp mean(p^2) = 2p/2


def test_loss_warm_up_eval_and_no_grad_calls_do_not_count() -> None:
    batch = _mse_batch()
    warm = LossWarmUp(_mse(), nof_iterations=2)
    assert warm(batch).item() == 0.0  # training call 1
    warm.eval()
    assert [warm(batch).item() for _ in range(4)] == [0.0] * 4  # eval during the warm-up: zero, not counted
    warm.train()
    with torch.no_grad():  # how Lightning runs validation, whether or not it switched the loss to eval mode
        assert [warm(batch).item() for _ in range(3)] == [0.0] * 3
    assert warm(batch).item() == 0.0  # training call 2
    assert warm(batch).item() == pytest.approx(2.5)  # warm-up over
    warm.eval()
    assert warm(batch).item() == pytest.approx(2.5)


def test_loss_warm_up_zero_dtype_and_device_follow_the_inputs() -> None:
    warm = LossWarmUp(_mse(), nof_iterations=10)
    assert warm(_mse_batch(torch.float64)).dtype == torch.float64
    bf16 = warm(_mse_batch(torch.bfloat16))
    assert bf16.dtype == torch.float32  # a loss of bf16 logits is float32 (autocast computes losses in float32)
    assert bf16.device == torch.device("cpu")
    no_tensor = warm(NDict({"a": 1}))
    assert no_tensor.dtype == torch.float32
    assert no_tensor.shape == ()


def test_loss_warm_up_wraps_a_module_with_positional_arguments() -> None:
    warm = LossWarmUp(nn.MSELoss(), nof_iterations=1)
    a, b = torch.tensor([1.0, 3.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    assert warm(a, b).dtype == torch.float64
    assert warm(a, b).item() == pytest.approx(5.0)
    assert warm(input=a, target=b).item() == pytest.approx(5.0)


def test_loss_warm_up_count_survives_a_state_dict_round_trip() -> None:
    batch = _mse_batch()
    warm = LossWarmUp(_mse(), nof_iterations=3)
    warm(batch)
    warm(batch)
    buffer = io.BytesIO()
    torch.save(warm.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed = LossWarmUp(_mse(), nof_iterations=3)
    resumed.load_state_dict(state)
    assert resumed(batch).item() == 0.0  # the third warm-up call
    assert resumed(batch).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match="expected extra state"):
        resumed.set_extra_state({"count": -1})


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_loss_warm_up_rejects_bad_nof_iterations(bad: Any) -> None:
    with pytest.raises(ValueError, match="nof_iterations must be an int >= 0"):
        LossWarmUp(_mse(), nof_iterations=bad)


def test_loss_warm_up_zero_iterations_is_the_loss() -> None:
    batch = _mse_batch()
    assert LossWarmUp(_mse(), nof_iterations=0)(batch).item() == pytest.approx(2.5)


# ---------------------------------------------------------------- LossWrapToDict


def test_loss_wrap_to_dict_equals_the_module_with_named_arguments() -> None:
    batch = _batch()
    wrapped = LossWrapToDict(
        loss_module=nn.CrossEntropyLoss(),
        loss_arg_to_batch_key={"input": "model.logits.classification", "target": "data.label"},
        weight=0.25,
    )
    value = wrapped(batch)
    torch.testing.assert_close(value, 0.25 * F.cross_entropy(_leaf(batch), batch["data.label"]))
    value.backward()
    assert _leaf(batch).grad is not None
    assert _leaf(batch).grad.abs().sum() > 0


def test_loss_wrap_to_dict_errors() -> None:
    wrapped = LossWrapToDict(
        loss_module=nn.CrossEntropyLoss(), loss_arg_to_batch_key={"input": "model.logits.classification", "target": "x"}
    )
    with pytest.raises(KeyError, match=r"no key 'x' \(argument 'target'\)"):
        wrapped(_batch())
    with pytest.raises(TypeError, match="non-empty dict"):
        LossWrapToDict(loss_module=nn.MSELoss(), loss_arg_to_batch_key={})
    with pytest.raises(TypeError, match="not an argument name"):
        LossWrapToDict(loss_module=nn.MSELoss(), loss_arg_to_batch_key={"in put": "a"})
    batch = _batch(requires_grad=False)
    batch["data.label"] = torch.tensor([0, 1])
    mismatched = LossWrapToDict(
        loss_module=nn.CrossEntropyLoss(),
        loss_arg_to_batch_key={"input": "model.logits.classification", "target": "data.label"},
    )
    with pytest.raises(ValueError, match=r"input='model.logits.classification': shape \[6, 3\].*shape \[2\]"):
        mismatched(batch)


# ---------------------------------------------------------------- LossExtractFromBatchDict


def test_loss_extract_from_batch_dict() -> None:
    aux = torch.tensor(3.0, requires_grad=True)
    value = LossExtractFromBatchDict("model.aux_loss", weight=0.5)(NDict({"model.aux_loss": aux * 2}))
    assert value.item() == 3.0
    value.backward()
    assert aux.grad is not None
    assert aux.grad.item() == 1.0
    assert LossExtractFromBatchDict("l")(NDict({"l": torch.tensor(2.0)})).item() == 2.0
    with pytest.raises(TypeError, match=r"batch_dict\['l'\] must be a loss tensor, got float"):
        LossExtractFromBatchDict("l")(NDict({"l": 2.0}))
    with pytest.raises(KeyError, match=r"no key 'model\.aux'"):
        LossExtractFromBatchDict("model.aux")(NDict({"model.loss": torch.tensor(1.0)}))


# ---------------------------------------------------------------- GPU


def _gpu_batch() -> NDict:
    torch.manual_seed(0)
    logits = torch.randn(6, 3, device="cuda", requires_grad=True)
    return NDict({"model.logits.classification": logits, "data.label": torch.tensor([0, 1, 2, 2, 1, 0], device="cuda")})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True])
def test_losses_on_gpu(autocast: bool) -> None:
    batch = _gpu_batch()
    key = "model.logits.classification"
    losses: list[LossBase] = [
        LossDefault(pred=key, target="data.label", callable=F.cross_entropy, weight=0.5),
        LossWrapToDict(loss_module=nn.CrossEntropyLoss(), loss_arg_to_batch_key={"input": key, "target": "data.label"}),
    ]
    warm = LossWarmUp(LossDefault(pred=key, target="data.label", callable=F.cross_entropy), nof_iterations=1)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        model_batch = NDict({key: torch.nn.functional.linear(batch[key], torch.eye(3, device="cuda"))})
        model_batch["data.label"] = batch["data.label"]  # logits in bf16 under autocast, as a model returns them
        zero = warm(model_batch)
        values = [loss(model_batch) for loss in losses] + [warm(model_batch)]
    assert zero.is_cuda
    assert zero.dtype == torch.float32
    assert zero.item() == 0.0
    reference = F.cross_entropy(batch[key].float(), batch["data.label"])
    for value, factor in zip(values, [0.5, 1.0, 1.0], strict=True):
        assert value.is_cuda
        assert value.dtype == torch.float32
        torch.testing.assert_close(
            value, factor * reference, rtol=2e-2 if autocast else 1e-5, atol=2e-2 if autocast else 1e-6
        )
    sum(values).backward()
    assert batch[key].grad is not None
    assert torch.isfinite(batch[key].grad).all()
