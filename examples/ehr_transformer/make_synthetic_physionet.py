"""Write a synthetic PhysioNet Challenge 2012 set: ``set-a/<RecordID>.txt`` per ICU stay and ``Outcomes-a.txt``.

The layout is the challenge's: each record file is a ``Time,Parameter,Value`` CSV with the descriptors
``RecordID, Age, Gender, Height, ICUType, Weight`` at ``00:00`` (``-1``: unknown), then 48 hours of time-stamped
measurements (hourly vital signs, urine output and ventilation; labs a few times a day; some variables missing, as in
the real data). ``Outcomes-a.txt`` holds ``RecordID, SAPS-I, SOFA, Length_of_stay, Survival, In-hospital_death``.

The planted signal: every patient has a hidden severity; the sicker are older and have a higher lactate, urea (BUN),
heart rate and respiratory rate, a lower blood pressure and Glasgow coma score, more often a ventilator, and die in
hospital more often (about a fifth of the patients die). The in-hospital death is therefore learnable from the
measurements, mostly from their last hours.

    python examples/ehr_transformer/make_synthetic_physionet.py --out physionet_synthetic --n 400
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

FIRST_RECORD_ID = 132539  # the first id of the real set-a
HOURS = 48


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write set-a/ and Outcomes-a.txt into")
    parser.add_argument("--n", type=int, default=400, help="number of ICU stays (default: %(default)s)")
    parser.add_argument("--hours", type=int, default=HOURS, help="hours of measurements (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser.parse_args(argv)


if __name__ == "__main__":  # --help answers before numpy is imported
    parse_args(sys.argv[1:])

try:
    import numpy as np
except ModuleNotFoundError as missing:
    raise SystemExit(f"{Path(__file__).name} needs numpy ({missing}): pip install numpy") from None

# Per variable: (mean, change per unit of severity, noise standard deviation, decimals, lower bound).
_VITALS = {
    "HR": (85.0, 12.0, 8.0, 0, 30.0),
    "RespRate": (18.0, 3.0, 3.0, 0, 5.0),
    "MAP": (82.0, -9.0, 8.0, 0, 30.0),
    "SysABP": (120.0, -12.0, 12.0, 0, 50.0),
    "DiasABP": (60.0, -6.0, 7.0, 0, 20.0),
    "Temp": (37.0, 0.3, 0.5, 1, 33.0),
    "Urine": (120.0, -35.0, 40.0, 0, 0.0),
}
_LABS = {
    "Lactate": (1.8, 1.2, 0.5, 1, 0.3),
    "BUN": (22.0, 10.0, 6.0, 0, 2.0),
    "Creatinine": (1.1, 0.5, 0.3, 1, 0.2),
    "pH": (7.39, -0.04, 0.03, 2, 6.9),
    "WBC": (11.0, 3.0, 3.0, 1, 0.5),
    "Glucose": (135.0, 15.0, 30.0, 0, 40.0),
    "Na": (139.0, 0.0, 3.0, 0, 110.0),
    "K": (4.1, 0.2, 0.4, 1, 2.0),
    "HCT": (31.0, -1.5, 4.0, 1, 15.0),
    "Platelets": (200.0, -30.0, 60.0, 0, 10.0),
}


def _value(rng: np.random.Generator, spec: tuple[float, float, float, int, float], severity: float) -> float:
    mean, slope, noise, decimals, low = spec
    return round(max(low, mean + slope * severity + rng.normal(0.0, noise)), decimals)


def _text(value: float) -> str:
    """A value as the challenge writes it: integers without a decimal point."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _time(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def make_record(
    rng: np.random.Generator, record_id: int, hours: int
) -> tuple[list[tuple[str, str, str]], dict[str, float]]:
    """The rows of one record file (without the header) and its outcome columns."""
    severity = float(rng.normal())
    age = float(np.clip(round(62 + 9 * severity + rng.normal(0, 12)), 15, 90))
    gender = float(rng.choice([0, 1, -1], p=[0.44, 0.54, 0.02]))
    height = -1.0 if rng.random() < 0.45 else round(float(rng.normal(170, 10)), 1)
    weight = -1.0 if rng.random() < 0.1 else round(float(rng.normal(80, 15)), 1)
    icu_type = float(rng.integers(1, 5))
    rows = [("00:00", name, _text(value)) for name, value in
            (("RecordID", record_id), ("Age", age), ("Gender", gender), ("Height", height), ("ICUType", icu_type),
             ("Weight", weight))]  # fmt: skip

    # Severity drifts over the stay; death follows the severity at the end (the last hours carry the signal).
    drift = float(rng.normal(0.0, 0.6))
    events: list[tuple[int, str, float]] = []
    ventilated = rng.random() < 1 / (1 + math.exp(-(severity - 0.3) * 2))
    for hour in range(hours):
        now = severity + drift * hour / hours
        minute = 60 * hour + int(rng.integers(0, 60))
        for name in ("HR", "RespRate", "Temp", "Urine") + (("MAP", "SysABP", "DiasABP") if rng.random() < 0.8 else ()):
            if name == "Temp" and hour % 4:
                continue
            events.append((minute, name, _value(rng, _VITALS[name], now)))
        if ventilated:
            events.append((minute, "MechVent", 1.0))
        if hour % 4 == 0:
            gcs = float(np.clip(round(13 - 3 * now + rng.normal(0, 1.5)), 3, 15))
            events.append((minute, "GCS", gcs))
        if hour % 12 == 3:
            lab_minute = 60 * hour + int(rng.integers(0, 60))
            for name, spec in _LABS.items():
                if rng.random() < 0.85:
                    events.append((lab_minute, name, _value(rng, spec, now)))
        if weight > 0 and hour % 24 == 12:
            events.append((minute, "Weight", round(weight + float(rng.normal(0, 1.0)), 1)))
    events.sort(key=lambda event: event[0])  # stable: the order of one time stamp is kept
    rows += [(_time(minute), name, _text(value)) for minute, name, value in events]

    final = severity + drift
    died = int(rng.random() < 1 / (1 + math.exp(-(2.0 * final - 1.8))))
    stay = int(max(2, round(rng.gamma(2.0, 6.0))))
    outcome = {
        "RecordID": float(record_id),
        "SAPS-I": float(np.clip(round(15 + 4 * final + rng.normal(0, 3)), 0, 40)),
        "SOFA": float(np.clip(round(6 + 3 * final + rng.normal(0, 2)), 0, 24)),
        "Length_of_stay": float(stay),
        "Survival": float(int(rng.integers(2, stay + 1)) if died else -1),
        "In-hospital_death": float(died),
    }
    return rows, outcome


def make_set(out: Path, n: int = 400, hours: int = HOURS, seed: int = 0) -> list[int]:
    """Write ``out/set-a/<RecordID>.txt`` and ``out/Outcomes-a.txt``; returns the in-hospital deaths in id order."""
    if n < 1 or not 1 <= hours <= 48:
        raise ValueError(f"make_set: need n >= 1 and 1 <= hours <= 48, got n={n}, hours={hours}")
    rng = np.random.default_rng(seed)
    (out / "set-a").mkdir(parents=True, exist_ok=True)
    outcomes = []
    for index in range(n):
        record_id = FIRST_RECORD_ID + index
        rows, outcome = make_record(rng, record_id, hours)
        lines = ["Time,Parameter,Value", *(",".join(row) for row in rows)]
        (out / "set-a" / f"{record_id}.txt").write_text("\n".join(lines) + "\n")
        outcomes.append(outcome)
    columns = list(outcomes[0])
    lines = [",".join(columns), *(",".join(_text(o[c]) for c in columns) for o in outcomes)]
    (out / "Outcomes-a.txt").write_text("\n".join(lines) + "\n")
    return [int(o["In-hospital_death"]) for o in outcomes]


def main(argv: list[str] | None = None) -> int:
    """Write the set; returns the exit status."""
    args = parse_args(argv)
    deaths = make_set(args.out, args.n, args.hours, args.seed)
    print(f"wrote {len(deaths)} records ({sum(deaths)} in-hospital deaths) to {args.out / 'set-a'}")
    print(f"outcomes: {args.out / 'Outcomes-a.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
