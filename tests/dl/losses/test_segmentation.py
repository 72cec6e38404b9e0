"""Segmentation and imbalance losses against independent references: F.cross_entropy (class weights, ignore_index),
a Dice formula written out with numpy loops, the focal formula by hand and its gamma=0 / alpha=None reduction to
(B)CE; nearest-neighbour resizing of the ground truth, errors naming the shapes, gradients, float64, bf16 autocast."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fuse.core import NDict
from fuse.dl import BinaryDiceLoss, DiceLoss, FocalLoss, LossDefault, LossSegmentationCrossEntropy


def _seg(
    batch: int = 2, classes: int = 3, size: tuple[int, ...] = (4, 4), dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    logits = torch.randn(batch, classes, *size, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, classes, (batch, *size))
    return logits, labels


def _leaf_copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone().requires_grad_(True)


def _upsample_by_repeat(labels: torch.Tensor, factor: int) -> torch.Tensor:
    """Nearest-neighbour upsampling of [B, *spatial] by an integer factor, independently of F.interpolate."""
    for dim in range(1, labels.ndim):
        labels = labels.repeat_interleave(factor, dim=dim)
    return labels


# ---------------------------------------------------------------- LossSegmentationCrossEntropy


@pytest.mark.parametrize("size", [(4, 4), (2, 3, 4)])
@pytest.mark.parametrize("class_weights", [None, [0.2, 1.0, 3.0]])
def test_cross_entropy_equals_f_cross_entropy_and_its_gradient(
    size: tuple[int, ...], class_weights: list[float] | None
) -> None:
    logits, labels = _seg(size=size)
    loss = LossSegmentationCrossEntropy(pred="model.logits.seg", target="data.gt.seg", class_weights=class_weights)
    value = loss(NDict({"model.logits.seg": logits, "data.gt.seg": labels}))
    reference_input = _leaf_copy(logits)
    weight = None if class_weights is None else torch.tensor(class_weights)
    reference = F.cross_entropy(reference_input, labels, weight=weight)
    torch.testing.assert_close(value, reference)
    value.backward()
    reference.backward()
    torch.testing.assert_close(logits.grad, reference_input.grad)


def test_cross_entropy_accepts_a_channel_dim_and_small_integer_dtypes() -> None:
    logits, labels = _seg()
    loss = LossSegmentationCrossEntropy(pred="p", target="t")
    expected = F.cross_entropy(logits, labels)
    torch.testing.assert_close(loss.compute(logits, labels.unsqueeze(1).to(torch.uint8)), expected)
    torch.testing.assert_close(loss.compute(logits, labels.to(torch.int32)), expected)


def test_cross_entropy_ignore_index_and_all_ignored_batch() -> None:
    logits, labels = _seg()
    labels[0, 0] = 255
    loss = LossSegmentationCrossEntropy(pred="p", target="t", ignore_index=255, class_weights=[1.0, 2.0, 0.5])
    expected = F.cross_entropy(logits, labels, weight=torch.tensor([1.0, 2.0, 0.5]), ignore_index=255)
    torch.testing.assert_close(loss.compute(logits, labels), expected)
    all_ignored = torch.full_like(labels, 255)
    assert torch.isnan(F.cross_entropy(logits, all_ignored, ignore_index=255))  # what we avoid
    value = loss.compute(logits, all_ignored)
    assert value.item() == 0.0
    value.backward()
    assert logits.grad is not None
    assert (logits.grad == 0).all()


@pytest.mark.parametrize("size", [(2, 2), (1, 2, 2)])
def test_cross_entropy_upsamples_a_smaller_label_map_by_nearest_neighbour(size: tuple[int, ...]) -> None:
    logits, _ = _seg(size=tuple(2 * s for s in size))
    torch.manual_seed(1)
    small = torch.randint(0, 3, (2, *size))
    value = LossSegmentationCrossEntropy(pred="p", target="t").compute(logits, small)
    torch.testing.assert_close(value, F.cross_entropy(logits, _upsample_by_repeat(small, 2)))


def test_cross_entropy_downsamples_a_larger_label_map_by_nearest_neighbour() -> None:
    logits, _ = _seg(size=(4, 4))
    torch.manual_seed(2)
    large = torch.randint(0, 3, (2, 1, 8, 8))
    value = LossSegmentationCrossEntropy(pred="p", target="t").compute(logits, large)
    torch.testing.assert_close(value, F.cross_entropy(logits, large[:, 0, ::2, ::2]))


@pytest.mark.parametrize(("mode", "picked"), [("nearest", [0, 1]), ("nearest-exact", [0, 2])])
def test_cross_entropy_resize_modes_pick_the_documented_source_pixels(mode: str, picked: list[int]) -> None:
    logits, _ = _seg(batch=1, classes=9, size=(2, 2))
    grid = torch.arange(9).reshape(
        1, 3, 3
    )  # 3x3 -> 2x2: nearest takes rows/cols floor(i * 1.5), exact floor((i + .5) * 1.5)
    value = LossSegmentationCrossEntropy(pred="p", target="t", resize_mode=mode).compute(logits, grid)
    torch.testing.assert_close(value, F.cross_entropy(logits, grid[:, picked][:, :, picked]))


def test_cross_entropy_resize_mode_none_raises_naming_both_shapes() -> None:
    logits, _ = _seg(size=(4, 4))
    loss = LossSegmentationCrossEntropy(pred="p", target="t", resize_mode=None)
    with pytest.raises(ValueError, match=r"pred shape \[2, 3, 4, 4\], target shape \[2, 1, 2, 2\].*resize_mode=None"):
        loss.compute(logits, torch.zeros(2, 2, 2, dtype=torch.long))


def test_cross_entropy_weight_preprocess_and_float64() -> None:
    logits, labels = _seg(dtype=torch.float64)
    batch = NDict({"model.logits.seg": logits, "data.gt.seg": labels, "data.keep": torch.tensor([False, True])})
    loss = LossSegmentationCrossEntropy(
        pred="model.logits.seg",
        target="data.gt.seg",
        weight=0.5,
        preprocess_func=lambda b: b.indices(b["data.keep"]),
    )
    value = loss(batch)
    assert value.dtype == torch.float64
    torch.testing.assert_close(value, 0.5 * F.cross_entropy(logits[1:], labels[1:]), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("pred_shape", "target", "error", "message"),
    [
        ((2, 3, 4, 4), torch.zeros(2, 4, 4), TypeError, r"integer class labels, got dtype torch.float32"),
        (
            (2, 3, 4, 4),
            torch.zeros(3, 4, 4, dtype=torch.long),
            ValueError,
            r"pred shape \[2, 3, 4, 4\], target shape \[3",
        ),
        ((2, 3, 4, 4), torch.zeros(2, 3, 4, 4, dtype=torch.long), ValueError, r"target shape \[2, 3, 4, 4\]"),
        (
            (2, 3, 4, 4),
            torch.full((2, 4, 4), 3),
            ValueError,
            r"labels must be in 0..2 or ignore_index=-100 .*found \[3\]",
        ),
        ((2, 4, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long), ValueError, r"class_weights has 3 values .*4 classes"),
        (
            (2,),
            torch.zeros(2, dtype=torch.long),
            ValueError,
            r"pred must be \[B, C, \*spatial\] logits, got shape \[2\]",
        ),
    ],
)
def test_cross_entropy_errors(
    pred_shape: tuple[int, ...], target: torch.Tensor, error: type[Exception], message: str
) -> None:
    loss = LossSegmentationCrossEntropy(pred="p", target="t", class_weights=[1.0, 1.0, 1.0])
    with pytest.raises(error, match=message):
        loss.compute(torch.zeros(pred_shape), target)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"resize_mode": "bilinear"}, "resize_mode must be one of"),
        ({"class_weights": [1.0, -1.0]}, "finite numbers >= 0"),
        ({"class_weights": [[1.0]]}, "non-empty 1-D"),
        ({"class_weights": "abc"}, "sequence of numbers"),
    ],
)
def test_cross_entropy_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LossSegmentationCrossEntropy(pred="p", target="t", **kwargs)


def test_cross_entropy_missing_key_names_it() -> None:
    loss = LossSegmentationCrossEntropy(pred="model.logits.seg", target="data.gt.seg")
    with pytest.raises(KeyError, match=r"no key 'data.gt.seg' \(target\); similar keys present: 'data.gt.seq'"):
        loss(NDict({"model.logits.seg": torch.zeros(1, 2, 2, 2), "data.gt.seq": torch.zeros(1, 2, 2)}))


# ---------------------------------------------------------------- DiceLoss


def _dice_reference(
    probs: np.ndarray, labels: np.ndarray, eps: float, class_weights: list[float] | None, ignore_absent: bool
) -> float:
    """Per (sample, class) soft Dice with explicit loops over samples, classes and pixels; weighted mean of 1-dice.
    ``probs`` is [B, C, N] (the probabilities of the classes compared), ``labels`` is [B, N] class indices."""
    batch, classes, pixels = probs.shape
    total, norm = 0.0, 0.0
    for b in range(batch):
        for c in range(classes):
            intersection = p_sum = t_sum = 0.0
            for i in range(pixels):
                t = 1.0 if labels[b, i] == c else 0.0
                intersection += probs[b, c, i] * t
                p_sum += probs[b, c, i]
                t_sum += t
            if ignore_absent and t_sum == 0:
                continue
            w = 1.0 if class_weights is None else class_weights[c]
            total += w * (1 - (2 * intersection + eps) / (p_sum + t_sum + eps))
            norm += w
    return total / norm if norm else 0.0


@pytest.mark.parametrize("class_weights", [None, [0.5, 1.0, 2.0]])
@pytest.mark.parametrize("ignore_absent", [False, True])
def test_dice_multiclass_equals_the_formula_with_loops(class_weights: list[float] | None, ignore_absent: bool) -> None:
    logits, labels = _seg(size=(3, 3))
    labels[0][labels[0] == 2] = 0  # class 2 absent from sample 0
    loss = DiceLoss(pred="p", target="t", class_weights=class_weights, eps=1e-3, ignore_absent_classes=ignore_absent)
    value = loss(NDict({"p": logits, "t": labels}))
    logits_np = logits.detach().double().numpy().reshape(2, 3, 9)
    exp = np.exp(logits_np - logits_np.max(axis=1, keepdims=True))
    probs = exp / exp.sum(axis=1, keepdims=True)
    expected = _dice_reference(probs, labels.numpy().reshape(2, 9), 1e-3, class_weights, ignore_absent)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    weighted = DiceLoss(
        pred="p", target="t", class_weights=class_weights, eps=1e-3, ignore_absent_classes=ignore_absent, weight=2.0
    )
    assert weighted(NDict({"p": logits, "t": labels})).item() == pytest.approx(2 * expected, rel=1e-5)
    value.backward()
    assert logits.grad is not None
    assert (logits.grad.abs().sum(dim=(0, 2, 3)) > 0).all()


def test_dice_one_channel_uses_the_sigmoid_foreground_dice() -> None:
    torch.manual_seed(3)
    logits = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 2, (2, 3, 3))
    value = DiceLoss(pred="p", target="t", eps=1e-4).compute(logits, labels)
    foreground_probs = 1 / (1 + np.exp(-logits.detach().numpy().reshape(2, 1, 9)))
    # one "class" compared: the foreground, label 1 (the reference's class index 0 matches labels - 1 == 0)
    expected = _dice_reference(foreground_probs, labels.numpy().reshape(2, 9) - 1, 1e-4, None, False)
    assert value.dtype == torch.float64
    assert value.item() == pytest.approx(expected, rel=1e-12)
    same = BinaryDiceLoss(eps=1e-4)(torch.sigmoid(logits), labels.unsqueeze(1))
    torch.testing.assert_close(value, same)
    value.backward()
    assert logits.grad is not None
    assert logits.grad.abs().sum() > 0


def test_dice_all_pairs_ignored_is_zero_with_a_gradient() -> None:
    logits = torch.randn(2, 1, 2, 2, requires_grad=True)
    value = DiceLoss(pred="p", target="t", ignore_absent_classes=True).compute(
        logits, torch.zeros(2, 2, 2, dtype=torch.long)
    )
    assert value.item() == 0.0
    value.backward()
    assert logits.grad is not None
    assert (logits.grad == 0).all()


def test_dice_resizes_the_label_map() -> None:
    logits, _ = _seg(size=(4, 4))
    torch.manual_seed(4)
    small = torch.randint(0, 3, (2, 1, 2, 2))
    loss = DiceLoss(pred="p", target="t")
    torch.testing.assert_close(loss.compute(logits, small), loss.compute(logits, _upsample_by_repeat(small[:, 0], 2)))
    with pytest.raises(ValueError, match=r"target shape \[2, 1, 2, 2\].*resize_mode=None"):
        DiceLoss(pred="p", target="t", resize_mode=None).compute(logits, small)


def test_dice_errors() -> None:
    logits, labels = _seg()
    with pytest.raises(
        ValueError, match=r"labels must be in 0..1 for a prediction of shape \[2, 1, 4, 4\]; found \[2\]"
    ):
        DiceLoss(pred="p", target="t").compute(logits[:, :1], labels)
    with pytest.raises(ValueError, match=r"pred must be \[B, C, \*spatial\] logits, got shape \[2, 3\]"):
        DiceLoss(pred="p", target="t").compute(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="class_weights has 2 values"):
        DiceLoss(pred="p", target="t", class_weights=[1, 2]).compute(logits, labels)
    with pytest.raises(ValueError, match="eps must be a number"):
        DiceLoss(pred="p", target="t", eps=-1.0)


# ---------------------------------------------------------------- FocalLoss


def test_focal_gamma_zero_no_alpha_is_binary_cross_entropy() -> None:
    torch.manual_seed(5)
    logits = torch.randn(8, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 2, (8,)).double()
    value = FocalLoss(pred="p", target="t", gamma=0.0).compute(logits, target)
    reference_input = _leaf_copy(logits)
    reference = F.binary_cross_entropy_with_logits(reference_input, target)
    torch.testing.assert_close(value, reference, rtol=1e-12, atol=0)
    value.backward()
    reference.backward()
    torch.testing.assert_close(logits.grad, reference_input.grad, rtol=1e-12, atol=0)


@pytest.mark.parametrize("size", [(), (3, 3)])
def test_focal_gamma_zero_no_alpha_is_cross_entropy(size: tuple[int, ...]) -> None:
    logits, labels = _seg(batch=4, size=size, dtype=torch.float64)
    value = FocalLoss(pred="p", target="t", gamma=0.0).compute(logits, labels)
    torch.testing.assert_close(value, F.cross_entropy(logits, labels), rtol=1e-12, atol=0)


def test_focal_binary_by_hand() -> None:
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)  # multi-label: [B=2, K=2]
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    alpha, gamma = 0.25, 2.0
    value = FocalLoss(pred="p", target="t", alpha=alpha, gamma=gamma).compute(logits, target)
    terms = []
    for x, y in zip(logits.detach().flatten().tolist(), target.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-x))
        p_t = p if y == 1 else 1 - p
        alpha_t = alpha if y == 1 else 1 - alpha
        terms.append(-alpha_t * (1 - p_t) ** gamma * math.log(p_t))
    assert value.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)
    value.backward()
    assert logits.grad is not None
    assert (logits.grad != 0).all()


def test_focal_multiclass_by_hand_with_per_class_alpha() -> None:
    logits = torch.tensor([[1.0, 0.0, -1.0], [0.2, 0.3, 2.0], [0.0, 0.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 1, 2])
    alpha, gamma = [0.5, 1.0, 2.0], 1.5
    value = FocalLoss(pred="p", target="t", alpha=alpha, gamma=gamma).compute(logits, labels)
    terms = []
    for row, y in zip(logits.detach().tolist(), labels.tolist(), strict=True):
        p_t = math.exp(row[y]) / sum(math.exp(v) for v in row)
        terms.append(-alpha[y] * (1 - p_t) ** gamma * math.log(p_t))
    assert value.item() == pytest.approx(sum(terms) / 3, rel=1e-6)
    scalar = FocalLoss(pred="p", target="t", alpha=0.5, gamma=gamma).compute(logits, labels)
    unit = FocalLoss(pred="p", target="t", gamma=gamma).compute(logits, labels)
    torch.testing.assert_close(scalar, 0.5 * unit)
    value.backward()
    assert logits.grad is not None
    assert (logits.grad.abs().sum(dim=1) > 0).all()


def test_focal_binary_segmentation_resizes_and_accepts_a_map_without_channel() -> None:
    torch.manual_seed(6)
    logits = torch.randn(2, 1, 4, 4)
    small = torch.randint(0, 2, (2, 2, 2))
    loss = FocalLoss(pred="p", target="t", alpha=0.3, gamma=2.0)
    value = loss.compute(logits, small)
    torch.testing.assert_close(value, loss.compute(logits, _upsample_by_repeat(small, 2).unsqueeze(1).float()))
    gamma0 = FocalLoss(pred="p", target="t", gamma=0.0).compute(logits, small)
    expected = F.binary_cross_entropy_with_logits(logits, _upsample_by_repeat(small, 2).unsqueeze(1).float())
    torch.testing.assert_close(gamma0, expected)


def test_focal_gradient_is_finite_for_saturated_logits_and_small_gamma() -> None:
    logits = torch.tensor([100.0, -100.0, 0.0], requires_grad=True)
    target = torch.tensor([1.0, 0.0, 1.0])
    value = FocalLoss(pred="p", target="t", gamma=0.5).compute(logits, target)
    value.backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()


def test_focal_weight_and_preprocess_in_the_batch_dict() -> None:
    logits, labels = _seg(batch=3, size=())
    batch = NDict({"model.logits.cls": logits, "data.label": labels, "data.keep": torch.tensor([True, False, True])})
    loss = FocalLoss(
        pred="model.logits.cls",
        target="data.label",
        gamma=0.0,
        weight=2.0,
        preprocess_func=lambda b: b.indices(b["data.keep"]),
    )
    torch.testing.assert_close(loss(batch), 2.0 * F.cross_entropy(logits[[0, 2]], labels[[0, 2]]))


def test_focal_errors() -> None:
    with pytest.raises(ValueError, match="scalar alpha"):
        FocalLoss(pred="p", target="t", alpha=[0.3, 0.7]).compute(torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        FocalLoss(pred="p", target="t").compute(torch.zeros(3, 1), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="alpha has 2 values but the prediction has 3 classes"):
        FocalLoss(pred="p", target="t", alpha=[0.3, 0.7]).compute(torch.zeros(2, 3), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"pred shape \[4\], target shape \[3\]"):
        FocalLoss(pred="p", target="t").compute(torch.zeros(4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"pred shape \[2, 1, 4\], target shape \[3, 4\]"):
        FocalLoss(pred="p", target="t").compute(torch.zeros(2, 1, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="alpha must be a number in"):
        FocalLoss(pred="p", target="t", alpha=1.5)
    with pytest.raises(TypeError, match="alpha must be None"):
        FocalLoss(pred="p", target="t", alpha=True)
    with pytest.raises(ValueError, match="gamma must be a number"):
        FocalLoss(pred="p", target="t", gamma=-1.0)
    with pytest.raises(TypeError, match="floating-point logits"):
        FocalLoss(pred="p", target="t").compute(torch.zeros(2, dtype=torch.long), torch.zeros(2))


# ---------------------------------------------------------------- BinaryDiceLoss


def test_binary_dice_equals_the_formula_for_each_reduction() -> None:
    torch.manual_seed(7)
    predict = torch.rand(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 2, (2, 2, 3, 3))
    p, t = predict.detach().numpy(), target.numpy()
    expected = np.empty((2, 2))
    for b in range(2):
        for c in range(2):
            expected[b, c] = 1 - (2 * (p[b, c] * t[b, c]).sum() + 1e-5) / (t[b, c].sum() + p[b, c].sum() + 1e-5)
    none = BinaryDiceLoss(reduction="none")(predict, target)
    assert none.shape == (2, 2)
    np.testing.assert_allclose(none.detach().numpy(), expected, rtol=1e-12)
    assert BinaryDiceLoss(reduction="sum")(predict, target).item() == pytest.approx(expected.sum(), rel=1e-12)
    mean = BinaryDiceLoss()(predict, target)
    assert mean.item() == pytest.approx(expected.mean(), rel=1e-12)
    mean.backward()
    assert predict.grad is not None
    assert predict.grad.abs().sum() > 0


def test_binary_dice_in_loss_default_and_errors() -> None:
    predict = torch.rand(2, 1, 4, 4)
    target = torch.randint(0, 2, (2, 1, 4, 4))
    loss = LossDefault(pred="model.output.seg", target="data.gt.seg", callable=BinaryDiceLoss(), weight=2.0)
    value = loss(NDict({"model.output.seg": predict, "data.gt.seg": target}))
    torch.testing.assert_close(value, 2.0 * BinaryDiceLoss()(predict, target))
    with pytest.raises(ValueError, match=r"'data.gt.seg': shape \[2, 4, 4\].*predict shape \[2, 1, 4, 4\]"):
        loss(NDict({"model.output.seg": predict, "data.gt.seg": target[:, 0]}))
    with pytest.raises(ValueError, match="reduction must be one of"):
        BinaryDiceLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"same shape \[B, C, \*spatial\]"):
        BinaryDiceLoss()(torch.rand(2, 3), torch.rand(2, 3))


# ---------------------------------------------------------------- half precision


def _all_losses() -> list[tuple[Any, tuple[int, ...], torch.Tensor]]:
    """(loss, logits shape, target) for every loss of this module."""
    torch.manual_seed(8)
    labels = torch.randint(0, 3, (2, 4, 4))
    return [
        (LossSegmentationCrossEntropy(pred="p", target="t", class_weights=[1.0, 2.0, 3.0]), (2, 3, 4, 4), labels),
        (DiceLoss(pred="p", target="t", class_weights=[1.0, 2.0, 3.0]), (2, 3, 4, 4), labels),
        (FocalLoss(pred="p", target="t", alpha=[0.2, 0.3, 0.5]), (2, 3, 4, 4), labels),
        (FocalLoss(pred="p", target="t", alpha=0.25), (2, 1, 4, 4), (labels > 0).long()),
    ]


@pytest.mark.parametrize("index", range(4))
def test_losses_under_cpu_bf16_autocast_match_float32(index: int) -> None:
    loss, shape, target = _all_losses()[index]
    torch.manual_seed(9)
    logits = torch.randn(*shape, requires_grad=True)
    reference = loss.compute(logits, target)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = loss.compute(logits.bfloat16(), target)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, reference, rtol=2e-2, atol=2e-2)
    value.backward()
    assert logits.grad is not None
    assert torch.isfinite(logits.grad).all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("index", range(4))
def test_losses_on_gpu(index: int, autocast: bool) -> None:
    loss, shape, target = _all_losses()[index]
    torch.manual_seed(9)
    logits = torch.randn(*shape)
    reference = loss.compute(logits, target)
    loss = loss.cuda()
    gpu_logits = logits.cuda().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        model_output = gpu_logits.to(torch.bfloat16) if autocast else gpu_logits  # what a bf16 model returns
        value = loss(NDict({"p": model_output, "t": target.cuda()}))
    assert value.is_cuda
    assert value.dtype == torch.float32
    torch.testing.assert_close(value.cpu(), reference, rtol=2e-2 if autocast else 1e-5, atol=2e-2 if autocast else 1e-6)
    value.backward()
    assert gpu_logits.grad is not None
    assert torch.isfinite(gpu_logits.grad).all()
    assert gpu_logits.grad.abs().sum() > 0
