"""SampleCachingAudit on its own: when a loaded sample is audited, and how a cached and a fresh sample compare."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from fuse.data import SampleCachingAudit, SampleCachingAuditError, SampleCachingAuditWarning


def _audited(audit: SampleCachingAudit, loads: int) -> list[int]:
    """The 1-based numbers of the loaded samples that ``audit`` chose."""
    return [number for number in range(1, loads + 1) if audit.update()]


# ---------------------------------------------------------------------------------------------- schedule
def test_the_first_sample_then_every_rate_samples_counted_from_the_last_audit() -> None:
    assert _audited(SampleCachingAudit(audit_rate=3, audit_units="samples", audit_every_samples=None), 10) == [
        1,
        4,
        7,
        10,
    ]
    assert _audited(SampleCachingAudit(False, audit_rate=3, audit_units="samples", audit_every_samples=None), 7) == [
        3,
        6,
    ]


def test_every_samples_counts_all_loads_and_combines_with_the_rate() -> None:
    audit = SampleCachingAudit(False, audit_rate=None, audit_every_samples=4)
    assert _audited(audit, 12) == [4, 8, 12]
    both = SampleCachingAudit(True, audit_rate=5, audit_units="samples", audit_every_samples=4)
    assert _audited(both, 12) == [1, 4, 8, 12]  # 8 comes from every_samples and restarts the rate's count


def test_a_time_rate_audits_once_the_time_has_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("fuse.data.cache._audit.time.monotonic", lambda: now[0])
    audit = SampleCachingAudit(audit_rate=2, audit_units="minutes", audit_every_samples=None)
    assert audit.update()  # the first sample
    now[0] += 119.0
    assert not audit.update()
    now[0] += 1.0
    assert audit.update()
    assert not audit.update()  # the clock restarts at each audit
    seconds = SampleCachingAudit(False, audit_rate=0.5, audit_units="seconds", audit_every_samples=None)
    now[0] += 0.5
    assert seconds.update()


def test_nothing_is_audited_when_everything_is_off() -> None:
    off = SampleCachingAudit(False, audit_rate=None, audit_every_samples=None)
    assert not off.enabled
    assert _audited(off, 5000) == []
    assert _audited(SampleCachingAudit(False, audit_rate=0, audit_units="samples", audit_every_samples=None), 50) == []


def test_each_process_starts_its_own_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    audit = SampleCachingAudit(audit_rate=None, audit_every_samples=3)
    assert _audited(audit, 2) == [1]
    child = os.getpid() + 1
    monkeypatch.setattr("fuse.data.cache._audit.os.getpid", lambda: child)  # as in a forked DataLoader worker
    assert _audited(audit, 3) == [1, 3]


def test_a_failed_recompute_warns_once_and_stops_the_audits_of_the_process() -> None:
    audit = SampleCachingAudit(audit_rate=1, audit_units="samples")
    with pytest.warns(SampleCachingAuditWarning, match=r"could not recompute sample 'a'.*audit_first_sample=False"):
        audit.recompute_failed(FileNotFoundError("raw/a.nii"), "a", "ct")
    assert not audit.enabled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _audited(audit, 10) == []
    strict = SampleCachingAudit(on_recompute_error="raise")
    with pytest.raises(SampleCachingAuditError, match="could not recompute sample 'b'"):
        strict.recompute_failed(OSError("gone"), "b", "ct")
    assert strict.enabled


# ---------------------------------------------------------------------------------------------- comparison
def test_audit_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="audit_units must be one of"):
        SampleCachingAudit(audit_units="hours")
    with pytest.raises(ValueError, match="audit_rate must be None or a number"):
        SampleCachingAudit(audit_rate=-1)


def test_audit_compares_with_tolerances() -> None:
    audit = SampleCachingAudit(rtol=1e-3)
    audit.audit({"x": np.array([1.0, np.nan])}, {"x": np.array([1.0001, np.nan])}, "a")
    audit.audit({"t": torch.ones(3)}, {"t": torch.ones(3)}, "a")
    with pytest.raises(SampleCachingAuditError, match=r"key 'x': cached ndarray\(2,\) float64, now ndarray\(3,\)"):
        audit.audit({"x": np.ones(2)}, {"x": np.ones(3)}, "a")
    with pytest.raises(SampleCachingAuditError, match="key 'y': only in the fresh sample"):
        audit.audit({"x": 1}, {"x": 1, "y": 2}, "a")


def test_tensors_are_compared_by_value_and_by_their_own_dtype() -> None:
    audit = SampleCachingAudit()
    audit.audit({"t": torch.ones(3, dtype=torch.bfloat16)}, {"t": torch.ones(3, dtype=torch.bfloat16)}, "a")
    with pytest.raises(SampleCachingAuditError, match=r"key 't'"):  # equal as float32, yet not the same sample
        audit.audit({"t": torch.ones(3, dtype=torch.bfloat16)}, {"t": torch.ones(3)}, "a")
    with pytest.raises(SampleCachingAuditError, match=r"key 't'"):
        audit.audit({"t": torch.ones(3)}, {"t": np.ones(3, dtype=np.float32)}, "a")
    with pytest.raises(SampleCachingAuditError, match=r"key 't'"):
        audit.audit({"t": torch.tensor([1.0, 2.0])}, {"t": torch.tensor([1.0, 2.5])}, "a")
