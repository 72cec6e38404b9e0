"""Patterns, DataTypeBasic and the type detectors: first match wins, defaults, verification, stable identities."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from enum import Enum
from typing import Any

import pytest

from fuse.data import (
    DataTypeBasic,
    Patterns,
    TypeDetectorBase,
    TypeDetectorPatternsBased,
    UnstableIdentityError,
    value_identity,
)


class DataType(Enum):
    IMAGE = 0
    SEG = 1
    BBOX = 2


PATTERNS = {r".*img$": DataType.IMAGE, r".*seg$": DataType.SEG, r".*bbox$": DataType.BBOX}


def test_first_matching_pattern_wins_in_order() -> None:
    patterns = Patterns(OrderedDict([(r".*img$", "image"), (r".*seg$", "seg"), (r".*$", "any")]))
    assert patterns.get_value("data.cc.img") == "image"
    assert patterns.get_value("data.cc_img") == "image"
    assert patterns.get_value("data.img_seg") == "seg"
    assert patterns.get_value("data") == "any"
    reordered = Patterns({r".*$": "any", r".*img$": "image"})
    assert reordered.get_value("data.cc.img") == "any"


def test_match_is_anchored_at_the_start_only() -> None:
    patterns = Patterns({r"data\.img": 1}, default_value=0)
    assert patterns.get_value("data.img") == 1
    assert patterns.get_value("data.img_extra") == 1  # re.match: not anchored at the end
    assert patterns.get_value("x.data.img") == 0  # but anchored at the start


def test_default_value_and_empty_patterns() -> None:
    assert Patterns({r".*img$": 1}).get_value("data.label") is None
    assert Patterns({r".*img$": 1}, default_value="other").get_value("data.label") == "other"
    assert Patterns(None, default_value=5).get_value("anything") == 5
    assert Patterns({}).get_value("anything") is None


def test_verify_value_in() -> None:
    patterns = Patterns(PATTERNS, DataTypeBasic.UNKNOWN)
    patterns.verify_value_in("data.img", [DataType.IMAGE, DataType.SEG])
    with pytest.raises(ValueError, match=r"'data.label' maps to <DataTypeBasic.UNKNOWN: -1>.*DataType.IMAGE"):
        patterns.verify_value_in("data.label", [DataType.IMAGE])
    patterns.verify_value_in("data.label", (v for v in [DataTypeBasic.UNKNOWN]))  # any iterable


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'\(' is not a valid regular expression"):
        Patterns({"(": 1})
    with pytest.raises(TypeError, match="regex string"):
        Patterns({3: 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="mapping of regex"):
        Patterns([(".*", 1)])  # type: ignore[arg-type]


def test_patterns_accessors_and_repr() -> None:
    patterns = Patterns({"a": 1}, default_value=2)
    copied = patterns.patterns
    copied["b"] = 3
    assert patterns.patterns == {"a": 1}
    assert patterns.default_value == 2
    assert repr(patterns) == "Patterns({'a': 1}, default_value=2)"


def test_patterns_identity_depends_on_order_values_and_default() -> None:
    base = Patterns({"a": 1, "b": 2}, default_value=0)
    assert base.cache_identity() == Patterns({"a": 1, "b": 2}, default_value=0).cache_identity()
    assert base.cache_identity() != Patterns({"b": 2, "a": 1}, default_value=0).cache_identity()
    assert base.cache_identity() != Patterns({"a": 1, "b": 3}, default_value=0).cache_identity()
    assert base.cache_identity() != Patterns({"a": 1, "b": 2}, default_value=9).cache_identity()
    assert value_identity(base) == value_identity(Patterns({"a": 1, "b": 2}, default_value=0))


def test_data_type_basic() -> None:
    assert DataTypeBasic.UNKNOWN.value == -1
    assert [member.name for member in DataTypeBasic] == ["UNKNOWN"]


def test_type_detector_patterns_based() -> None:
    detector = TypeDetectorPatternsBased(PATTERNS)
    assert detector.get_type({}, "data.cc.img") is DataType.IMAGE
    assert detector.get_type({"data.cc.seg": 1}, "data.cc.seg") is DataType.SEG
    assert detector.get_type({}, "data.label") is DataTypeBasic.UNKNOWN
    assert detector.patterns.get_value("a.bbox") is DataType.BBOX
    detector.verify_type({}, "data.img", [DataType.IMAGE])
    with pytest.raises(ValueError, match="not one of"):
        detector.verify_type({}, "data.seg", [DataType.IMAGE])
    assert "TypeDetectorPatternsBased(" in repr(detector)


def test_type_detector_identity() -> None:
    detector = TypeDetectorPatternsBased(PATTERNS)
    assert detector.cache_identity() == TypeDetectorPatternsBased(dict(PATTERNS)).cache_identity()
    changed = {**PATTERNS, r".*ctr$": DataType.BBOX}
    assert detector.cache_identity() != TypeDetectorPatternsBased(changed).cache_identity()
    reordered = dict(reversed(list(PATTERNS.items())))
    assert detector.cache_identity() != TypeDetectorPatternsBased(reordered).cache_identity()


class TypeDetectorFromValue(TypeDetectorBase):
    """Reads the sample: a str value is text, anything else unknown."""

    def get_type(self, sample_dict: Mapping[str, Any], key: str) -> Any:
        return "text" if isinstance(sample_dict[key], str) else DataTypeBasic.UNKNOWN


def test_type_detector_base_default_verify_and_abstractness() -> None:
    with pytest.raises(TypeError):
        TypeDetectorBase()  # type: ignore[abstract]
    detector = TypeDetectorFromValue()
    detector.verify_type({"a": "x"}, "a", ["text"])
    with pytest.raises(
        ValueError, match=r"key 'a' has type <DataTypeBasic.UNKNOWN: -1>, which is not one of \['text'\]"
    ):
        detector.verify_type({"a": 1}, "a", ["text"])
    # a detector without cache_identity is identified by its class's code and its attributes; one holding
    # something without a stable identity cannot key a cache
    assert value_identity(detector) == value_identity(TypeDetectorFromValue())
    detector.lock = threading.Lock()  # type: ignore[attr-defined]
    with pytest.raises(UnstableIdentityError):
        value_identity(detector)
