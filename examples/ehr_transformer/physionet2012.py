"""Read PhysioNet/Computing in Cardiology Challenge 2012 records (``set-a/<RecordID>.txt``, ``Outcomes-a.txt``).

A record file is a CSV with the header ``Time,Parameter,Value``: the descriptors ``RecordID``, ``Age``, ``Gender``,
``Height``, ``ICUType`` and ``Weight`` at ``00:00`` (``-1``: unknown), then time-stamped measurements (``HH:MM``
since ICU admission, up to 48 hours) of 37 variables such as ``HR`` or ``Lactate``::

    Time,Parameter,Value
    00:00,RecordID,132539
    00:00,Age,54
    ...
    00:07,HR,73

The parser is strict: a missing header, a malformed time, a value that is not a number, an unknown parameter or a
``RecordID`` that differs from the file name stops it with the file and line. Implausible values are kept here;
:func:`drop_implausible` removes them (and says how many) as FuseMedML did.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "132539.txt"
>>> _ = path.write_text("Time,Parameter,Value\\n00:00,RecordID,132539\\n00:00,Age,54\\n00:00,Height,-1\\n00:07,HR,73\\n")
>>> record = read_record(path)
>>> record.record_id, record.static["Age"], record.static["Height"], record.events
('132539', 54.0, nan, [Event(minute=7, parameter='HR', value=73.0)])
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

HEADER = ("Time", "Parameter", "Value")
DESCRIPTORS = ("RecordID", "Age", "Gender", "Height", "ICUType", "Weight")
STATIC_FIELDS = ("Age", "Gender", "Height", "ICUType", "Weight")  # the descriptors a model sees
TIME_SERIES = (
    "ALP", "ALT", "AST", "Albumin", "BUN", "Bilirubin", "Cholesterol", "Creatinine", "DiasABP", "FiO2", "GCS",
    "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "MAP", "MechVent", "Mg", "NIDiasABP", "NIMAP", "NISysABP", "Na",
    "PaCO2", "PaO2", "Platelets", "RespRate", "SaO2", "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC",
    "Weight", "pH",
)  # fmt: skip
PARAMETERS = frozenset(DESCRIPTORS) | frozenset(TIME_SERIES)
OUTCOME_COLUMNS = ("RecordID", "SAPS-I", "SOFA", "Length_of_stay", "Survival", "In-hospital_death")
# Measurements that cannot be zero or negative, and the smallest plausible weight (kg) and height (cm): FuseMedML's
# cleaning rules, which remove recording errors such as a weight of 0.
POSITIVE_ONLY = frozenset(
    {"pH", "Weight", "Height", "DiasABP", "HR", "NIMAP", "MAP", "NIDiasABP", "NISysABP", "PaCO2", "PaO2", "Temp",
     "SaO2", "RespRate", "SysABP"}
)  # fmt: skip
MINIMUM = {"Weight": 20.0, "Height": 100.0}


class RecordFormatError(ValueError):
    """A record or outcomes file that does not follow the PhysioNet 2012 layout (the message names file and line)."""


class Event(NamedTuple):
    """One measurement: minutes since ICU admission, the parameter and its value."""

    minute: int
    parameter: str
    value: float


@dataclass
class Record:
    """One ICU stay: its id, the descriptors (``NaN`` where the file says ``-1``) and the measurements in file
    order."""

    record_id: str
    static: dict[str, float] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def _minutes(text: str, where: str) -> int:
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(minutes) < 60):
        raise RecordFormatError(f"{where}: time {text!r} is not HH:MM (hours and minutes since ICU admission)")
    return int(hours) * 60 + int(minutes)


def _number(text: str, parameter: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RecordFormatError(f"{where}: value {text!r} of {parameter} is not a number") from None
    if not math.isfinite(value):
        raise RecordFormatError(f"{where}: value {text!r} of {parameter} is not a finite number")
    return value


def read_record(path: str | os.PathLike[str]) -> Record:
    """Parse one record file; the record id is the file name's stem and must match its ``RecordID`` row.

    The descriptors are the ``00:00`` rows before the first measurement (``Weight`` there is the admission weight;
    later ``Weight`` rows are measurements). ``-1`` in a descriptor means unknown and becomes ``NaN``.
    """
    path = Path(path)
    record = Record(record_id=path.stem)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None or tuple(cell.strip() for cell in header) != HEADER:
            raise RecordFormatError(
                f"{path}: line 1: expected the header {','.join(HEADER)!r}, got {','.join(header or [])!r}: "
                "is this a PhysioNet 2012 record file?"
            )
        in_descriptors = True
        for line, row in enumerate(rows, start=2):
            where = f"{path}: line {line}"
            if not row:
                continue  # a trailing empty line
            if len(row) != 3:
                raise RecordFormatError(f"{where}: expected 3 fields (Time,Parameter,Value), got {len(row)}: {row}")
            time, parameter, text = (cell.strip() for cell in row)
            minute = _minutes(time, where)
            if parameter not in PARAMETERS:
                raise RecordFormatError(
                    f"{where}: unknown parameter {parameter!r}; PhysioNet 2012 has {', '.join(sorted(PARAMETERS))}"
                )
            value = _number(text, parameter, where)
            is_descriptor = parameter in DESCRIPTORS and parameter not in record.static and minute == 0
            if in_descriptors and is_descriptor:
                matches_name = text == record.record_id or (
                    record.record_id.isdigit() and value == int(record.record_id)
                )
                if parameter == "RecordID" and not matches_name:
                    raise RecordFormatError(
                        f"{where}: RecordID {text} differs from the file name {path.name!r}: rename the file"
                    )
                record.static[parameter] = math.nan if value == -1 else value
                continue
            if parameter in DESCRIPTORS and parameter != "Weight":
                raise RecordFormatError(
                    f"{where}: descriptor {parameter} after the measurements started (or repeated): descriptors are "
                    "the 00:00 rows at the top of the file"
                )
            in_descriptors = False
            record.events.append(Event(minute, parameter, value))
    if "RecordID" not in record.static:
        raise RecordFormatError(f"{path}: no RecordID row at 00:00 at the top of the file")
    del record.static["RecordID"]
    for name in STATIC_FIELDS:
        record.static.setdefault(name, math.nan)
    return record


def read_outcomes(path: str | os.PathLike[str]) -> dict[str, int]:
    """``In-hospital_death`` (0 survived, 1 died) per record id, from ``Outcomes-a.txt``."""
    path = Path(path)
    outcomes: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = [cell.strip() for cell in next(rows, [])]
        missing = [name for name in ("RecordID", "In-hospital_death") if name not in header]
        if missing:
            raise RecordFormatError(f"{path}: line 1: the header lacks {missing}; expected {','.join(OUTCOME_COLUMNS)}")
        id_column, death_column = header.index("RecordID"), header.index("In-hospital_death")
        for line, row in enumerate(rows, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise RecordFormatError(f"{path}: line {line}: expected {len(header)} fields, got {len(row)}")
            record_id, death = row[id_column].strip(), row[death_column].strip()
            if death not in {"0", "1"}:
                raise RecordFormatError(f"{path}: line {line}: In-hospital_death is {death!r}, expected 0 or 1")
            if record_id in outcomes:
                raise RecordFormatError(f"{path}: line {line}: RecordID {record_id} appears twice")
            outcomes[record_id] = int(death)
    return outcomes


def read_set(folder: str | os.PathLike[str], outcomes: str | os.PathLike[str]) -> tuple[list[Record], list[int]]:
    """Every ``<RecordID>.txt`` of ``folder`` (sorted by id) and its ``In-hospital_death``; a record without an
    outcome is an error (the two files belong to different sets)."""
    folder = Path(folder)
    paths = sorted(folder.glob("*.txt"), key=lambda p: (len(p.stem), p.stem))
    if not paths:
        raise FileNotFoundError(f"{folder}: no <RecordID>.txt record files; expected PhysioNet 2012's set-a layout")
    deaths = read_outcomes(outcomes)
    records = [read_record(path) for path in paths]
    missing = [record.record_id for record in records if record.record_id not in deaths]
    if missing:
        raise RecordFormatError(
            f"{outcomes}: no In-hospital_death for {len(missing)} records of {folder}: {missing[:5]}"
        )
    return records, [deaths[record.record_id] for record in records]


def drop_implausible(records: Iterable[Record]) -> int:
    """Turn implausible descriptors into ``NaN`` and remove implausible measurements (:data:`POSITIVE_ONLY` at or
    below zero, :data:`MINIMUM` weight and height), in place; returns how many values were affected."""
    affected = 0

    def plausible(parameter: str, value: float) -> bool:
        return not (parameter in POSITIVE_ONLY and value <= 0) and value >= MINIMUM.get(parameter, -math.inf)

    for record in records:
        for name, value in record.static.items():
            if not math.isnan(value) and not plausible(name, value):
                record.static[name] = math.nan
                affected += 1
        kept = [event for event in record.events if plausible(event.parameter, event.value)]
        affected += len(record.events) - len(kept)
        record.events = kept
    return affected


def keep_long_stays(
    records: Sequence[Record], labels: Sequence[int], min_hours: int, min_windows: int, window_minutes: int
) -> tuple[list[Record], list[int]]:
    """The records with a measurement at or after ``min_hours`` and measurements in at least ``min_windows`` time
    windows (FuseMedML's patient filter, there with exact time stamps)."""
    kept = [
        (record, label)
        for record, label in zip(records, labels, strict=True)
        if record.events
        and max(event.minute for event in record.events) >= 60 * min_hours
        and len({event.minute // window_minutes for event in record.events}) >= min_windows
    ]
    return [record for record, _ in kept], [label for _, label in kept]
