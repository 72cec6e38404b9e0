"""``SampleCachingAudit``: recompute some cached samples and compare, to catch a cache that no longer matches its
pipeline (e.g. a file read by an op changed on disk, which no code hash can see)."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from fuse.core import SAMPLE_ID_KEY, NDict, create_initial_sample, is_tensor, renamed_keywords, to_numpy
from fuse.data.cache._ids import sample_id_key

__all__ = ["SampleCachingAudit", "SampleCachingAuditError", "SampleCachingAuditWarning", "compare_samples"]

_UNITS = ("minutes", "seconds", "samples", None)
_ON_ERROR = ("warn", "raise")
_SWITCH_OFF = (
    "switch audits off with SamplesCacher(..., audit_first_sample=False, audit_rate=None, "
    "audit_every_samples=None) (e.g. on a node that has only the cache, not the raw data)"
)


class SampleCachingAuditError(RuntimeError):
    """A sample loaded from the cache differs from the same sample computed afresh (or, with
    ``on_recompute_error="raise"``, could not be computed afresh)."""


class SampleCachingAuditWarning(UserWarning):
    """An audit could not recompute a sample (e.g. the raw data is not on this node), so audits stop in this
    process."""


class SampleCachingAudit:
    """When to audit a cached sample, and how to compare it with a fresh one.

    The first sample loaded in each process is audited (``audit_first_sample``), then one sample every
    ``audit_rate`` minutes, seconds or samples (``audit_units``; ``audit_rate=None`` or ``0`` stops these), and
    also one in every ``audit_every_samples`` loaded samples (default 1000, ``None`` stops these), so that a
    cache that is stale only for some samples is caught in short runs too. Arrays (numpy or torch) and floats are
    compared with ``numpy.allclose(rtol, atol, equal_nan)``; everything else with ``==``. The state is per process:
    every DataLoader worker audits its own first sample.

    When the fresh computation itself fails (``on_recompute_error``), e.g. on a node that has the cache but not
    the raw data, ``"warn"`` (the default) issues a :class:`SampleCachingAuditWarning` naming the sample, the error
    and how to switch audits off, and stops auditing in that process; ``"raise"`` raises a
    :class:`SampleCachingAuditError` saying the same.

    >>> audit = SampleCachingAudit(audit_first_sample=True, audit_rate=2, audit_units="samples")
    >>> [audit.update() for _ in range(5)]
    [True, False, True, False, True]
    """

    def __init__(
        self,
        audit_first_sample: bool = True,
        audit_rate: float | None = 30,
        audit_units: str | None = "minutes",
        *,
        audit_every_samples: int | None = 1000,
        on_recompute_error: str = "warn",
        rtol: float = 1e-7,
        atol: float = 0.0,
        equal_nan: bool = True,
    ) -> None:
        if audit_every_samples is not None and (
            isinstance(audit_every_samples, bool) or not isinstance(audit_every_samples, int) or audit_every_samples < 1
        ):
            raise ValueError(f"audit_every_samples must be None or an int >= 1, got {audit_every_samples!r}")
        if on_recompute_error not in _ON_ERROR:
            raise ValueError(f"on_recompute_error must be one of {list(_ON_ERROR)}, got {on_recompute_error!r}")
        if audit_units not in _UNITS:
            raise ValueError(f"audit_units must be one of {list(_UNITS)}, got {audit_units!r}")
        if audit_rate is not None and (not isinstance(audit_rate, (int, float)) or audit_rate < 0):
            raise ValueError(f"audit_rate must be None or a number >= 0, got {audit_rate!r}")
        if audit_units is None and audit_rate:
            raise ValueError("audit_units=None disables periodic audits; pass audit_rate=None with it")
        self.audit_first_sample = audit_first_sample
        self.audit_rate = audit_rate
        self.audit_units = audit_units
        self.audit_every_samples = audit_every_samples
        self.on_recompute_error = on_recompute_error
        self.rtol, self.atol, self.equal_nan = rtol, atol, equal_nan
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._seen = 0
        self._last_audit_time = time.monotonic()
        self._since_last = 0
        self._stopped = False

    @property
    def enabled(self) -> bool:
        """Whether any sample will ever be audited (in this process)."""
        if os.getpid() != self._pid:
            self._reset()
        if self._stopped:
            return False
        return self.audit_first_sample or bool(self.audit_rate) or self.audit_every_samples is not None

    def update(self) -> bool:
        """Count one loaded sample; ``True`` when this one should be audited."""
        if not self.enabled:  # also resets the state in a new process
            return False
        self._seen += 1
        self._since_last += 1
        if self._seen == 1 and self.audit_first_sample:
            self._since_last = 0
            self._last_audit_time = time.monotonic()
            return True
        due = self.audit_every_samples is not None and self._seen % self.audit_every_samples == 0
        if self.audit_rate and self.audit_units == "samples":
            due = due or self._since_last >= self.audit_rate
        elif self.audit_rate:
            seconds = self.audit_rate * (60.0 if self.audit_units == "minutes" else 1.0)
            due = due or time.monotonic() - self._last_audit_time >= seconds
        if due:
            self._since_last = 0
            self._last_audit_time = time.monotonic()
        return due

    def recompute_failed(self, error: BaseException, sample_id: Any, cache_name: str) -> None:
        """Handle an error raised while computing ``sample_id`` afresh for an audit (see ``on_recompute_error``)."""
        message = (
            f"the audit of cache {cache_name!r} could not recompute sample {sample_id!r} to compare it with the "
            f"cached copy ({type(error).__name__}: {error}); is the raw data reachable from this node? To audit "
            f"anyway, make it reachable; otherwise {_SWITCH_OFF}"
        )
        if self.on_recompute_error == "raise":
            raise SampleCachingAuditError(message) from error
        self._stopped = True
        warnings.warn(
            SampleCachingAuditWarning(f"{message}. Audits are off in this process from now on."), stacklevel=4
        )

    def audit_with(
        self,
        pipeline: Callable[[NDict], Any],
        cached: NDict,
        sample_id: Hashable,
        initial_id: Hashable,
        keys: Sequence[str] | None,
        cache_name: str,
    ) -> None:
        """Compute ``sample_id`` afresh with the static ``pipeline`` (from ``initial_id``, the id it started from) and
        :meth:`audit` the ``cached`` copy (only ``keys``, when given) against it."""
        try:
            output = pipeline(create_initial_sample(initial_id))
        except Exception as error:  # noqa: BLE001  (e.g. no raw data here: warn and stop auditing, or raise)
            self.recompute_failed(error, sample_id, cache_name)
            return
        candidates: list[Any] = [] if output is None else [output] if isinstance(output, Mapping) else list(output)
        wanted = sample_id_key(sample_id)
        fresh = next((s for s in candidates if sample_id_key(s.get("data.sample_id")) == wanted), None)
        if fresh is None:
            produced = [s.get("data.sample_id") for s in candidates]
            self.audit(cached, NDict({"(no sample: the pipeline now produces)": produced}), sample_id)
            return
        self.audit(cached, fresh if keys is None else fresh.get_multi(keys), sample_id)

    @renamed_keywords(cached_sample="cached", fresh_sample="fresh")
    def audit(self, cached: Mapping[str, Any], fresh: Mapping[str, Any], sample_id: Any = None) -> None:
        """Raise :class:`SampleCachingAuditError` naming every differing key when ``cached`` != ``fresh``.

        ``sample_id`` names the sample in the error (default: the cached sample's ``data.sample_id``). FuseMedML's
        ``audit(cached_sample=..., fresh_sample=...)`` keywords still work, with a ``DeprecationWarning``.
        """
        if sample_id is None:
            sample_id = cached.get(SAMPLE_ID_KEY, "(no data.sample_id)")
        differences = compare_samples(cached, fresh, rtol=self.rtol, atol=self.atol, equal_nan=self.equal_nan)
        if differences:
            shown = "\n  ".join(differences[:20])
            more = f"\n  ... and {len(differences) - 20} more" if len(differences) > 20 else ""
            raise SampleCachingAuditError(
                f"sample {sample_id!r} loaded from the cache differs from the same sample computed now:\n  "
                f"{shown}{more}\nThe cache no longer matches the pipeline's output (an input file or something "
                "else the code hash cannot see changed). Recache these samples with cacher.delete([...]) or the "
                "whole cache with restart_cache=True."
            )


def _as_numpy(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if is_tensor(value):
        return np.asarray(to_numpy(value))
    return None


def _describe(value: Any) -> str:
    array = _as_numpy(value)
    if array is not None:
        return f"{type(value).__name__}{tuple(array.shape)} {array.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _differs(a: Any, b: Any, rtol: float, atol: float, equal_nan: bool) -> bool:
    array_a, array_b = _as_numpy(a), _as_numpy(b)
    if array_a is not None or array_b is not None:
        if array_a is None or array_b is None or type(a) is not type(b):
            return True
        if array_a.shape != array_b.shape or str(a.dtype) != str(b.dtype):  # a tensor's own dtype: bfloat16 counts
            return True
        if array_a.dtype.kind in "fc":
            return not np.allclose(array_a, array_b, rtol=rtol, atol=atol, equal_nan=equal_nan)
        return not np.array_equal(array_a, array_b)
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return not equal_nan
        return not math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return (
            type(a) is not type(b)
            or len(a) != len(b)
            or any(_differs(x, y, rtol, atol, equal_nan) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() != b.keys() or any(_differs(a[k], b[k], rtol, atol, equal_nan) for k in a)
    try:
        return bool(a != b)
    except Exception:  # noqa: BLE001  (an exotic value whose == is not a bool: compare the representations)
        return repr(a) != repr(b)


def compare_samples(
    cached: Mapping[str, Any],
    fresh: Mapping[str, Any],
    *,
    rtol: float = 1e-7,
    atol: float = 0.0,
    equal_nan: bool = True,
) -> list[str]:
    """Lines describing how two flat samples differ (empty when they match).

    >>> compare_samples({"a": 1.0, "b": np.zeros(2)}, {"a": 1.0, "b": np.ones(2), "c": 3})
    ["key 'b': cached ndarray(2,) float64, now ndarray(2,) float64", "key 'c': only in the fresh sample"]
    """
    lines = []
    for key in cached:
        if key not in fresh:
            lines.append(f"key {key!r}: only in the cached sample")
        elif _differs(cached[key], fresh[key], rtol, atol, equal_nan):
            lines.append(f"key {key!r}: cached {_describe(cached[key])}, now {_describe(fresh[key])}")
    lines.extend(f"key {key!r}: only in the fresh sample" for key in fresh if key not in cached)
    return lines
