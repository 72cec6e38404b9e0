"""Sample-id conventions."""

import pytest

from fuse.core import (
    INITIAL_SAMPLE_ID_KEY,
    SAMPLE_ID_KEY,
    NDict,
    create_initial_sample,
    get_initial_sample_id,
    get_sample_id,
    get_specific_sample_from_potentially_morphed,
    set_initial_sample_id,
    set_sample_id,
)


def test_create_initial_sample() -> None:
    sample = create_initial_sample("case_1")
    assert isinstance(sample, NDict)
    assert sample.to_dict() == {INITIAL_SAMPLE_ID_KEY: "case_1", SAMPLE_ID_KEY: "case_1"}
    morphed = create_initial_sample("case_1", ("case_1", 2))
    assert get_sample_id(morphed) == ("case_1", 2)
    assert get_initial_sample_id(morphed) == "case_1"
    assert SAMPLE_ID_KEY == "data.sample_id"
    assert INITIAL_SAMPLE_ID_KEY == "data.initial_sample_id"


def test_setters_and_getters_work_on_plain_and_ndict_samples() -> None:
    sample = NDict()
    set_sample_id(sample, 7)
    set_initial_sample_id(sample, 3)
    assert sample["data"].to_dict() == {"sample_id": 7, "initial_sample_id": 3}
    assert get_sample_id(sample) == 7
    assert get_initial_sample_id(sample) == 3


def test_missing_id_says_how_to_create_samples() -> None:
    with pytest.raises(KeyError, match="create_initial_sample"):
        get_sample_id(NDict({"data.img": 1}))
    with pytest.raises(KeyError, match=r"data\.initial_sample_id"):
        get_initial_sample_id(NDict())


def test_get_specific_sample_from_potentially_morphed() -> None:
    single = create_initial_sample("a")
    assert get_specific_sample_from_potentially_morphed(single, "a") is single
    with pytest.raises(KeyError, match="expected the sample with id 'b'"):
        get_specific_sample_from_potentially_morphed(single, "b")

    parts = [create_initial_sample("a", ("a", i)) for i in range(3)]
    assert get_specific_sample_from_potentially_morphed(parts, ("a", 2)) is parts[2]
    with pytest.raises(KeyError, match="among the 3 morphed samples"):
        get_specific_sample_from_potentially_morphed(parts, ("a", 9))
    with pytest.raises(ValueError, match="dropped"):
        get_specific_sample_from_potentially_morphed(None, "a")
    with pytest.raises(TypeError, match="list of samples"):
        get_specific_sample_from_potentially_morphed(5, "a")  # type: ignore[arg-type]
