"""Turn a PhysioNet 2012 record into a token sequence for a transformer, as FuseMedML's EHR transformer does.

Every value becomes a word ``<Parameter>_<bin>``: the bins of a parameter are the quantiles of its training values
(``num_bins`` bins), or its categories when it has fewer than ``categorical_max_values`` distinct values (gender,
ICU type, mechanical ventilation). The measurements are grouped into time windows of ``window_minutes`` ("visits"),
each closed by ``SEP``; the sequence is ``CLS``, the static words (age, gender, BMI by default), ``SEP_STATIC``,
then the latest visits that fit in ``max_len``, padded with ``PAD`` (index 0)::

    CLS Age_3 Gender_1 BMI_missing SEP_STATIC HR_2 MAP_1 SEP HR_3 Lactate_3 SEP ... PAD PAD

>>> from physionet2012 import Event, Record
>>> train = [Record(str(i), {"Age": 40.0 + 10 * i, "Gender": i % 2, "Height": 170.0, "ICUType": 1.0, "Weight": 70.0},
...                 [Event(5, "HR", 60.0 + i), Event(70, "HR", 80.0 + i)]) for i in range(8)]
>>> binning = fit_binning(train, num_bins=4)
>>> tokens(train[7], binning, window_minutes=60, max_len=12)
['CLS', 'Age_3', 'Gender_1', 'BMI_0', 'SEP_STATIC', 'HR_1', 'SEP', 'HR_3', 'SEP', 'PAD', 'PAD', 'PAD']
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from physionet2012 import STATIC_FIELDS, Event, Record

PAD, UNK, SEP, CLS, SEP_STATIC = "PAD", "UNK", "SEP", "CLS", "SEP_STATIC"
SPECIAL_TOKENS = (PAD, UNK, SEP, CLS, SEP_STATIC)  # PAD first: index 0, the padding index of the embedding
DEFAULT_STATIC = ("Age", "Gender", "BMI")  # FuseMedML's static_variables_to_embed


def static_values(record: Record) -> dict[str, float]:
    """The descriptors plus ``BMI`` (kg/m², ``NaN`` without both height and weight)."""
    values = dict(record.static)
    height, weight = values.get("Height", math.nan), values.get("Weight", math.nan)
    values["BMI"] = 10000.0 * weight / (height * height) if height > 0 and weight > 0 else math.nan
    return values


@dataclass(frozen=True)
class Binning:
    """Per parameter: the inner quantile edges of a continuous one, or the sorted categories of a categorical one."""

    edges: Mapping[str, tuple[float, ...]]
    categories: Mapping[str, tuple[float, ...]]

    def word(self, parameter: str, value: float) -> str:
        """The word of one value: ``<parameter>_<bin>``; ``<parameter>_missing`` for ``NaN``; ``UNK`` for a
        parameter or category never seen in training."""
        if math.isnan(value):
            return f"{parameter}_missing"
        if parameter in self.categories:
            known = self.categories[parameter]
            return f"{parameter}_{known.index(value)}" if value in known else UNK
        if parameter in self.edges:
            return f"{parameter}_{int(np.searchsorted(self.edges[parameter], value, side='right'))}"
        return UNK

    def vocabulary(self) -> dict[str, int]:
        """Word -> index: the special tokens (``PAD`` = 0), then every word this binning can produce."""
        words = list(SPECIAL_TOKENS)
        for name in sorted({*self.edges, *self.categories}):
            bins = len(self.categories[name]) if name in self.categories else len(self.edges[name]) + 1
            words += [f"{name}_{b}" for b in range(bins)] + [f"{name}_missing"]
        return {word: index for index, word in enumerate(words)}


def fit_binning(records: Iterable[Record], num_bins: int = 4, categorical_max_values: int = 5) -> Binning:
    """The bins of every parameter and static value seen in ``records`` (the training records only: the test
    patients must not shape the vocabulary). The admission weight and the later weights share one binning."""
    if num_bins < 1:
        raise ValueError(f"fit_binning: num_bins must be at least 1, got {num_bins}")
    values: dict[str, list[float]] = {}
    for record in records:
        for name, value in static_values(record).items():
            if not math.isnan(value):
                values.setdefault(name, []).append(value)
        for event in record.events:
            values.setdefault(event.parameter, []).append(event.value)
    edges: dict[str, tuple[float, ...]] = {}
    categories: dict[str, tuple[float, ...]] = {}
    inner = [100.0 * i / num_bins for i in range(1, num_bins)]
    for name, observed in values.items():
        distinct = sorted(set(observed))
        if len(distinct) < categorical_max_values:
            categories[name] = tuple(distinct)
        else:
            edges[name] = tuple(float(edge) for edge in np.percentile(observed, inner))
    return Binning(edges, categories)


def windows(record: Record, window_minutes: int) -> list[list[Event]]:
    """The measurements grouped by time window (``minute // window_minutes``), in time order; measurements of one
    window keep their file order."""
    if window_minutes < 1:
        raise ValueError(f"windows: window_minutes must be at least 1, got {window_minutes}")
    grouped: dict[int, list[Event]] = {}
    for event in sorted(record.events, key=lambda e: e.minute):  # sorted() is stable: file order within a minute
        grouped.setdefault(event.minute // window_minutes, []).append(event)
    return [grouped[key] for key in sorted(grouped)]


def random_sub_trajectory(n_windows: int, rng: random.Random | None = None) -> tuple[int, int]:
    """A random ``[start, stop)`` range of windows keeping at least half of them (FuseMedML's training
    augmentation): up to a quarter dropped at each end. Without ``rng``, Python's global generator, which
    ``fuse.core.set_seed`` seeds and PyTorch's data-loading workers re-seed each (so workers differ)."""
    draw = random.randint if rng is None else rng.randint
    drop = max(n_windows - 1, 0) // 4
    start = draw(0, drop)
    stop = n_windows - draw(0, drop)
    return start, stop


def tokens(
    record: Record,
    binning: Binning,
    *,
    window_minutes: int,
    max_len: int,
    static_fields: Sequence[str] = DEFAULT_STATIC,
    window_range: tuple[int, int] | None = None,
) -> list[str]:
    """The padded word sequence of ``record`` (see the module docstring); ``window_range`` keeps only those windows
    (training augmentation). The latest windows that fit are kept whole; older ones are left out."""
    unknown = sorted(set(static_fields) - {*STATIC_FIELDS, "BMI"})
    if unknown:
        raise ValueError(f"tokens: unknown static fields {unknown}; choose from {[*STATIC_FIELDS, 'BMI']}")
    statics = static_values(record)
    head = [CLS, *(binning.word(name, statics[name]) for name in static_fields), SEP_STATIC]
    if len(head) >= max_len:
        raise ValueError(f"tokens: max_len {max_len} leaves no room after the {len(head)} static tokens")
    visits = windows(record, window_minutes)
    if window_range is not None:
        visits = visits[window_range[0] : window_range[1]]
    body: list[str] = []
    for visit in reversed(visits):
        words = [binning.word(event.parameter, event.value) for event in visit] + [SEP]
        if len(head) + len(body) + len(words) > max_len:
            break
        body = words + body
    sequence = head + body
    return sequence + [PAD] * (max_len - len(sequence))


def token_ids(words: Sequence[str], vocabulary: Mapping[str, int]) -> list[int]:
    """Word -> index (``UNK`` for words outside the vocabulary)."""
    return [vocabulary.get(word, vocabulary[UNK]) for word in words]
