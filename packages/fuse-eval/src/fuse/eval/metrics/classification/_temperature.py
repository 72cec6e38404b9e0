"""Temperature scaling: fit a temperature on logits, apply it, and the metrics that do both.

``find_temperature`` returns the temperature that minimises the cross-entropy (found by root finding on its
derivative, which is monotone in ``1 / T``).

Compatibility: ``optimizer="fusemedml_lbfgs"`` replays FuseMedML's 50 LBFGS steps, which stop short of the minimum.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np

from fuse.core import renamed_keywords
from fuse.eval.framework._arrays import ArrayLike, Ids
from fuse.eval.framework._lazy import scipy_optimize as optimize
from fuse.eval.framework._lazy import scipy_special as special
from fuse.eval.framework._metric_base import RESULTS_PREFIX, MetricDefault
from fuse.eval.framework._per_sample import PerSampleData, distinct_samples
from fuse.eval.framework._warnings import undefined
from fuse.eval.metrics.classification._calibration import _labels, _sample_name
from fuse.eval.metrics.classification._common import _as_array

__all__ = [
    "MetricFindTemperature",
    "MetricApplyTemperature",
    "find_temperature",
    "apply_temperature",
    "TEMPERATURE_OPTIMIZERS",
]


TEMPERATURE_OPTIMIZERS: tuple[str, ...] = ("exact", "fusemedml_lbfgs")


def _check_optimizer(optimizer: str) -> None:
    if optimizer not in TEMPERATURE_OPTIMIZERS:
        raise ValueError(f"unknown temperature optimizer {optimizer!r}; allowed: {list(TEMPERATURE_OPTIMIZERS)}")


def _logit_matrix(logits: ArrayLike, ids: Ids | None) -> np.ndarray:
    """``(n, C)`` finite logits; a scalar per sample is the logit of class 1 against class 0 (``[0, z]``)."""
    array = _as_array(logits)
    if array.size == 0:
        return np.empty((0, 2))
    array = np.asarray(array, dtype=float)
    if array.ndim == 1:
        array = np.stack((np.zeros_like(array), array), axis=1)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(
            f"logits must hold one logit (of class 1) or one logit vector (2 classes or more) per sample, got an "
            f"array of shape {array.shape}"
        )
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if len(bad):
        first = int(bad[0])
        raise ValueError(
            f"logits of {_sample_name(first, ids)} are not finite: {array[first].tolist()} (a log of a zero "
            "probability? clip probabilities away from 0 before taking logs)"
        )
    return array


def _exact_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The minimiser of the mean cross-entropy. With ``b = 1/T``, ``NLL(b)`` is convex and its derivative
    ``g(b) = mean(E_softmax(b*z)[z] - z_target)`` increases from ``g(0)``; the optimum is the root of ``g``.
    """
    centred = logits - logits.max(axis=1, keepdims=True)
    true_logit = centred[np.arange(len(labels)), labels]

    def derivative(beta: float) -> float:
        weights = special.softmax(beta * centred, axis=1)
        return float(np.mean(np.sum(weights * centred, axis=1) - true_logit))

    if derivative(0.0) >= 0:
        undefined(
            "the cross-entropy is minimised as the temperature goes to infinity (on average the target's logit is "
            "not above the mean logit), so no finite temperature is optimal"
        )
        return float("nan")
    low, high = 0.0, 1.0
    while derivative(high) < 0 and high < 1e300:
        low, high = high, high * 2.0
    if derivative(high) <= 0:
        undefined(
            "the cross-entropy keeps decreasing as the temperature goes to 0 (every sample's largest logit is its "
            "target), so no positive temperature is optimal"
        )
        return float("nan")
    beta = optimize.brentq(derivative, low, high, xtol=high * 1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    return 1.0 / float(beta)


def _fusemedml_lbfgs_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """FuseMedML's fit: ``torch.optim.LBFGS([T], lr=0.01, max_iter=50)`` from ``T = 1.5`` on the mean cross-entropy,
    without line search, replayed step by step in float32 as torch runs it (the parameter, gradient and L-BFGS
    memory are float32; the loss is float64 for float64 logits).
    """
    f32 = np.float32
    lr, max_iter, max_eval, tolerance_grad, tolerance_change = f32(0.01), 50, 62, 1e-7, 1e-9
    rows = np.arange(len(labels))

    def loss_and_grad(temperature: np.float32) -> tuple[float, np.float32]:
        t64 = float(temperature)
        scaled = logits / t64
        loss = float(np.mean(special.logsumexp(scaled, axis=1) - scaled[rows, labels]))
        d_scaled = special.softmax(scaled, axis=1)
        d_scaled[rows, labels] -= 1.0
        grad = -float(np.sum(d_scaled * logits)) / (t64 * t64) / len(labels)
        return loss, f32(grad)

    temperature = f32(1.5)
    loss, grad = loss_and_grad(temperature)
    evaluations = 1
    if abs(grad) <= tolerance_grad:
        return float(temperature)
    directions: list[np.float32] = []
    steps: list[np.float32] = []
    inverse_curvatures: list[np.float32] = []
    h_diag, direction, step = f32(1.0), f32(0.0), f32(0.0)  # torch's history_size=100 > 49 pairs: nothing is dropped
    previous_grad = grad
    for iteration in range(1, max_iter + 1):
        if iteration == 1:
            direction = -grad
        else:
            y = f32(grad - previous_grad)
            s = f32(direction * step)
            ys = f32(y * s)
            if ys > 1e-10:
                directions.append(y)
                steps.append(s)
                inverse_curvatures.append(f32(f32(1.0) / ys))
                h_diag = f32(ys / f32(y * y))
            alphas: list[np.float32] = [f32(0.0)] * len(directions)
            q = f32(-grad)
            for i in range(len(directions) - 1, -1, -1):
                alphas[i] = f32(f32(steps[i] * q) * inverse_curvatures[i])
                q = f32(q - f32(alphas[i] * directions[i]))
            r = f32(q * h_diag)
            for i in range(len(directions)):
                beta_i = f32(f32(directions[i] * r) * inverse_curvatures[i])
                r = f32(r + f32(steps[i] * f32(alphas[i] - beta_i)))
            direction = r
        previous_grad, previous_loss = grad, loss
        step = f32(min(f32(1.0), f32(f32(1.0) / abs(grad))) * lr) if iteration == 1 else lr
        if f32(grad * direction) > -tolerance_change:
            break
        temperature = f32(temperature + f32(step * direction))
        if iteration == max_iter:
            break
        loss, grad = loss_and_grad(temperature)
        evaluations += 1
        if evaluations >= max_eval or abs(grad) <= tolerance_grad:
            break
        if abs(f32(direction * step)) <= tolerance_change or abs(loss - previous_loss) < tolerance_change:
            break
    return float(temperature)


@renamed_keywords(pred="logits")
def find_temperature(logits: ArrayLike, target: ArrayLike, optimizer: str = "exact", ids: Ids | None = None) -> float:
    """The temperature ``T`` minimising the mean cross-entropy of ``softmax(logits / T)`` (temperature scaling,
    Guo et al. 2017), fitted on ``logits`` (one vector per sample, before the softmax; a scalar per sample is the
    logit of class 1) and integer (or one-hot) ``target``. FuseMedML's keyword ``pred=`` is accepted for ``logits``
    with a ``DeprecationWarning``.

    - ``optimizer="exact"`` (default): the minimiser itself, to machine precision (scipy ``brentq`` on the
      derivative, which is monotone in ``1 / T``);
    - ``optimizer="fusemedml_lbfgs"``: FuseMedML's result, 50 fixed-step LBFGS iterations (lr=0.01) from ``T = 1.5``,
      which usually stop before the minimum.

    NaN with an ``UndefinedMetricWarning`` when no positive finite temperature is optimal (the cross-entropy keeps
    falling as ``T`` goes to 0 or to infinity) or the input is empty.

    >>> import numpy as np
    >>> logits = np.array([[2.0, 0.0], [0.0, 2.0], [1.5, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> round(find_temperature(logits, [0, 1, 1, 1, 0]), 4)
    1.1438
    """
    _check_optimizer(optimizer)
    matrix = _logit_matrix(logits, ids)
    labels = _labels(target, matrix.shape[1], len(matrix))
    if len(matrix) == 0:
        undefined("a temperature cannot be fitted on no samples")
        return float("nan")
    if optimizer == "fusemedml_lbfgs":
        return _fusemedml_lbfgs_temperature(matrix, labels)
    return _exact_temperature(matrix, labels)


@renamed_keywords(pred="logits")
def apply_temperature(logits: ArrayLike, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``softmax(logits / temperature)`` (scipy), ``(n, C)`` for logit vectors; for a scalar
    logit of class 1 per sample, the probability of class 1 (``sigmoid(z / T)``), ``(n,)``. FuseMedML's keyword
    ``pred=`` is accepted for ``logits`` with a ``DeprecationWarning``; ``temperature`` is required (FuseMedML's
    ``None`` returned the logits unchanged, not probabilities).

    >>> apply_temperature([[2.0, 0.0], [0.0, 1.0]], 2.0).round(4).tolist()
    [[0.7311, 0.2689], [0.3775, 0.6225]]
    """
    if not isinstance(temperature, numbers.Real) or isinstance(temperature, bool) or not 0 < temperature < np.inf:
        raise ValueError(
            f"temperature must be a positive finite number, got {temperature!r} (find_temperature returns NaN when "
            "no temperature is optimal)"
        )
    scalar = _as_array(logits).ndim == 1
    matrix = _logit_matrix(logits, None)
    probabilities: np.ndarray = special.softmax(matrix / float(temperature), axis=1)
    return probabilities[:, 1] if scalar else probabilities


def _apply_temperature_per_sample(pred: ArrayLike, temperature: float, ids: Ids | None) -> PerSampleData:
    """Once per distinct id (a bootstrap repeats ids; see ``distinct_samples``)."""
    distinct, first = distinct_samples(ids, "MetricApplyTemperature")
    return PerSampleData(apply_temperature(pred if first is None else _as_array(pred)[first], temperature), distinct)


class MetricFindTemperature(MetricDefault):
    """The calibration temperature (a float) fitted on logits ``pred`` (FuseMedML's ``MetricFindTemperature``); pass
    it on as ``temperature="results:metrics.<name>"`` to :class:`MetricApplyTemperature`. See
    :func:`find_temperature` (``optimizer="fusemedml_lbfgs"`` reproduces FuseMedML's under-converged value).

    >>> import numpy as np
    >>> metric = MetricFindTemperature(pred="logits", target="target")
    >>> logits = np.array([[2.0, 0.0], [0.0, 2.0], [1.5, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> metric.collect({"id": list(range(5)), "logits": logits, "target": [0, 1, 1, 1, 0]})
    >>> round(metric.eval(), 4)
    1.1438
    """

    def __init__(self, pred: str, target: str, optimizer: str = "exact", **kwargs: Any) -> None:
        _check_optimizer(optimizer)
        super().__init__(
            metric_func=functools.partial(find_temperature, optimizer=optimizer),
            pred=None,
            target=target,
            logits=pred,
            extract_ids=True,
            **kwargs,
        )


class MetricApplyTemperature(MetricDefault):
    """Calibrated probabilities ``softmax(pred / temperature)`` of logits ``pred`` (FuseMedML's
    ``MetricApplyTemperature``) as ``PerSampleData``, so later metrics, ``CI``, ``GroupAnalysis`` and ``Filter`` read
    them aligned by id (``pred="results:metrics.<name>"``). ``temperature`` is a number or a
    ``"results:metrics.<find temperature metric>"`` reference. See :func:`apply_temperature`.

    >>> import numpy as np
    >>> metric = MetricApplyTemperature(pred="logits", temperature=2.0)
    >>> metric.collect({"id": ["a", "b"], "logits": np.array([[2.0, 0.0], [0.0, 1.0]])})
    >>> metric.eval()(["b"]).round(4).tolist()
    [[0.3775, 0.6225]]
    """

    def __init__(self, pred: str, temperature: float | str, **kwargs: Any) -> None:
        if isinstance(temperature, str):
            if not temperature.startswith(RESULTS_PREFIX):
                raise ValueError(
                    f"temperature {temperature!r} is a string: only '{RESULTS_PREFIX}metrics.<name>' references to an "
                    "earlier metric's result are allowed (or pass a number)"
                )
        elif not isinstance(temperature, numbers.Real) or isinstance(temperature, bool) or not 0 < temperature < np.inf:
            raise ValueError(
                f"temperature must be a positive finite number or a results: reference, got {temperature!r}"
            )
        super().__init__(
            metric_func=_apply_temperature_per_sample,
            pred=pred,
            target=None,
            temperature=temperature,
            extract_ids=True,
            **kwargs,
        )
