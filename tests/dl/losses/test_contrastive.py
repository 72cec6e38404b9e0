"""SupervisedContrastiveLoss against a naive double-loop implementation of L_out (arXiv 2004.11362, eq. 2) in the
cross-view setting, the symmetric variant, the zero-positives case, the deprecated `tempreture` spelling, errors,
gradients, float64 and bf16 autocast."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from fuse.core import NDict
from fuse.dl import SupervisedContrastiveLoss
from fuse.dl.losses._contrastive import softcrossentropyloss, supervised_contrastive_loss


def _naive_l_out(
    feat_i: torch.Tensor, feat_j: torch.Tensor, y_i: list[int], y_j: list[int], temperature: float
) -> float:
    """L_out with plain Python loops: anchors are the rows of feat_i, every row of feat_j is in A(a), P(a) are the
    rows of feat_j with the anchor's label; mean of L_a over the anchors that have a positive."""
    zi = [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in feat_i.tolist()]
    zj = [[v / math.sqrt(sum(x * x for x in row)) for v in row] for row in feat_j.tolist()]

    def sim(a: int, k: int) -> float:
        return sum(x * y for x, y in zip(zi[a], zj[k], strict=True)) / temperature

    per_anchor = []
    for a in range(len(zi)):
        positives = [p for p in range(len(zj)) if y_j[p] == y_i[a]]
        if not positives:
            continue
        denominator = sum(math.exp(sim(a, k)) for k in range(len(zj)))
        per_anchor.append(-sum(math.log(math.exp(sim(a, p)) / denominator) for p in positives) / len(positives))
    return sum(per_anchor) / len(per_anchor) if per_anchor else 0.0


def _features(n: int = 6, m: int = 5, dim: int = 4, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    return (
        torch.randn(n, dim, dtype=dtype, requires_grad=True),
        torch.randn(m, dim, dtype=dtype, requires_grad=True),
    )


# anchors have 2, 1, 0 (label 7 is absent from y_j), 2, 1 and 2 positives: the per-anchor 1/|P(a)| matters
Y_I = [0, 1, 7, 0, 2, 0]
Y_J = [0, 1, 0, 2, 3]


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_equals_naive_l_out_with_unequal_positive_counts(temperature: float) -> None:
    feat_i, feat_j = _features()
    value = supervised_contrastive_loss(feat_i, feat_j, torch.tensor(Y_I), torch.tensor(Y_J), temp=temperature)
    expected = _naive_l_out(feat_i.detach(), feat_j.detach(), Y_I, Y_J, temperature)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    assert feat_i.grad is not None
    assert feat_j.grad is not None
    assert feat_i.grad[[0, 1, 3, 4, 5]].abs().sum(dim=1).gt(0).all()  # every anchor with positives gets a gradient
    assert feat_i.grad[2].abs().sum() == 0  # the anchor without positives does not count
    assert feat_j.grad.abs().sum(dim=1).gt(0).all()


def test_symmetrical_swaps_the_roles_with_the_transposed_mask() -> None:
    feat_i, feat_j = _features(dtype=torch.float64)
    value = supervised_contrastive_loss(
        feat_i, feat_j, torch.tensor(Y_I), torch.tensor(Y_J), symm=True, alpha=0.3, temp=0.5
    )
    forward = _naive_l_out(feat_i.detach(), feat_j.detach(), Y_I, Y_J, 0.5)
    backward = _naive_l_out(feat_j.detach(), feat_i.detach(), Y_J, Y_I, 0.5)
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(0.3 * forward + 0.7 * backward, rel=1e-10)


def test_zero_positives_gives_a_zero_connected_to_the_graph() -> None:
    feat_i, feat_j = _features(n=3, m=3)
    value = supervised_contrastive_loss(feat_i, feat_j, torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]))
    assert value.item() == 0.0
    assert value.requires_grad
    value.backward()
    assert feat_i.grad is not None
    assert (feat_i.grad == 0).all()


def test_the_module_reads_the_batch_dict_and_applies_weight_and_preprocess() -> None:
    feat_i, feat_j = _features(n=5, m=5)
    y_i, y_j = torch.tensor([0, 1, 0, 2, 1]), torch.tensor([0, 1, 1, 2, 0])
    batch = NDict(
        {
            "model": {"proj_i": feat_i, "proj_j": feat_j},
            "data": {"label_i": y_i, "label_j": y_j, "keep": torch.tensor([True, True, False, True, True])},
        }
    )
    loss = SupervisedContrastiveLoss(
        feat_i="model.proj_i",
        feat_j="model.proj_j",
        target_i="data.label_i",
        target_j="data.label_j",
        temperature=0.5,
        weight=2.0,
        preprocess_func=lambda b: b.indices(b["data.keep"]),
    )
    keep = [0, 1, 3, 4]
    expected = 2.0 * _naive_l_out(
        feat_i.detach()[keep], feat_j.detach()[keep], y_i[keep].tolist(), y_j[keep].tolist(), 0.5
    )
    assert loss(batch).item() == pytest.approx(expected, rel=1e-5)
    symmetrical = SupervisedContrastiveLoss(
        feat_i="model.proj_i",
        feat_j="model.proj_j",
        target_i="data.label_i",
        target_j="data.label_j",
        temperature=0.5,
        symmetrical=True,
        alpha=0.25,
    )
    forward = _naive_l_out(feat_i.detach(), feat_j.detach(), y_i.tolist(), y_j.tolist(), 0.5)
    backward = _naive_l_out(feat_j.detach(), feat_i.detach(), y_j.tolist(), y_i.tolist(), 0.5)
    assert symmetrical(batch).item() == pytest.approx(0.25 * forward + 0.75 * backward, rel=1e-5)
    with pytest.raises(KeyError, match=r"no key 'data.label_k' \(target_j\); similar keys present: 'data.label_"):
        SupervisedContrastiveLoss(feat_i="model.proj_i", feat_j="model.proj_j", target_i="data.label_i",
                                  target_j="data.label_k")(batch)  # fmt: skip


def test_default_temperature_is_0_2_and_tempreture_is_a_deprecated_alias() -> None:
    feat_i, feat_j = _features()
    batch = NDict({"a": feat_i, "b": feat_j, "ya": torch.tensor(Y_I), "yb": torch.tensor(Y_J)})
    keys = {"feat_i": "a", "feat_j": "b", "target_i": "ya", "target_j": "yb"}
    default = SupervisedContrastiveLoss(**keys)
    assert default.temperature == 0.2
    assert default(batch).item() == pytest.approx(
        _naive_l_out(feat_i.detach(), feat_j.detach(), Y_I, Y_J, 0.2), rel=1e-5
    )
    with pytest.warns(DeprecationWarning, match="'tempreture' is deprecated, use 'temperature'"):
        old = SupervisedContrastiveLoss(**keys, tempreture=0.7)
    assert old.temperature == 0.7
    torch.testing.assert_close(old(batch), SupervisedContrastiveLoss(**keys, temperature=0.7)(batch))
    with pytest.raises(TypeError, match="not both"):
        SupervisedContrastiveLoss(**keys, temperature=0.7, tempreture=0.7)
    with pytest.warns(DeprecationWarning, match="'callable' is ignored"):
        SupervisedContrastiveLoss(**keys, callable=torch.nn.functional.cross_entropy)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature must be a number > 0"),
        ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\]"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SupervisedContrastiveLoss(feat_i="a", feat_j="b", target_i="c", target_j="d", **kwargs)


def test_errors_name_the_shapes() -> None:
    feat_i, feat_j = _features(n=4, m=4)
    labels = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"same feature size, got shapes \[4, 4\] and \[4, 3\]"):
        supervised_contrastive_loss(feat_i, feat_j[:, :3], labels, labels)
    with pytest.raises(ValueError, match=r"feat_xi shape \[4, 4\] torch.float32, yi shape \[3\]"):
        supervised_contrastive_loss(feat_i, feat_j, labels[:3], labels)
    nan = feat_i.detach().clone()
    nan[0, 0] = float("nan")
    with pytest.raises(ValueError, match="feat_xi contains NaN"):
        supervised_contrastive_loss(nan, feat_j, labels, labels)
    batch = NDict({"a": feat_i, "b": feat_j[:, :3], "y": labels})
    with pytest.raises(ValueError, match=r"'a' and 'b' must have the same feature size"):
        SupervisedContrastiveLoss(feat_i="a", feat_j="b", target_i="y", target_j="y")(batch)


def test_labels_with_a_trailing_dim_are_flattened() -> None:
    feat_i, feat_j = _features(n=4, m=4)
    labels = torch.tensor([0, 1, 0, 1])
    torch.testing.assert_close(
        supervised_contrastive_loss(feat_i, feat_j, labels[:, None], labels[:, None]),
        supervised_contrastive_loss(feat_i, feat_j, labels, labels),
    )


def test_softcrossentropyloss_is_the_total_mass_normalised_soft_cross_entropy() -> None:
    torch.manual_seed(1)
    logits = torch.randn(3, 4)
    target = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    expected = 0.0
    for row, weights in zip(logits.tolist(), target.tolist(), strict=True):
        log_z = math.log(sum(math.exp(v) for v in row))
        expected -= sum(w * (v - log_z) for v, w in zip(row, weights, strict=True))
    assert softcrossentropyloss(target, logits).item() == pytest.approx(expected / 2.5, rel=1e-6)
    with pytest.raises(ValueError, match=r"target shape \[3, 3\], logits shape \[3, 4\]"):
        softcrossentropyloss(target[:, :3], logits)


def test_cpu_bf16_autocast_computes_in_float32() -> None:
    feat_i, feat_j = _features()
    reference = supervised_contrastive_loss(feat_i, feat_j, torch.tensor(Y_I), torch.tensor(Y_J))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        projected = torch.nn.functional.linear(feat_i, torch.eye(4))  # bf16 under autocast
        assert projected.dtype == torch.bfloat16
        value = supervised_contrastive_loss(projected, feat_j, torch.tensor(Y_I), torch.tensor(Y_J))
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference, rtol=2e-2, atol=2e-2)
    value.backward()
    assert feat_i.grad is not None
    assert torch.isfinite(feat_i.grad).all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True])
def test_on_gpu(autocast: bool) -> None:
    feat_i, feat_j = _features()
    reference = _naive_l_out(feat_i.detach(), feat_j.detach(), Y_I, Y_J, 0.2)
    gpu_i = feat_i.detach().cuda().requires_grad_(True)
    gpu_j = feat_j.detach().cuda().requires_grad_(True)
    half = torch.bfloat16 if autocast else torch.float32  # what a bf16 model returns
    batch = NDict({"a": gpu_i.to(half), "b": gpu_j.to(half), "ya": torch.tensor(Y_I).cuda(), "yb": torch.tensor(Y_J)})
    # (yb stays on the CPU: the labels are moved to the features' device)
    loss = SupervisedContrastiveLoss(feat_i="a", feat_j="b", target_i="ya", target_j="yb", symmetrical=True, alpha=1.0)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        value = loss(batch)
    assert value.is_cuda
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(reference, rel=2e-2 if autocast else 1e-5)
    value.backward()
    assert gpu_i.grad is not None
    assert gpu_j.grad is not None
    assert torch.isfinite(gpu_i.grad).all()
    assert torch.isfinite(gpu_j.grad).all()
