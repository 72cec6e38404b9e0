"""OpReadDataframe / OpReadMultiFromDataframe: DataFrame and file sources, column selection and renaming, prefixes,
key columns, missing ids, multi-row reads and a cache identity that follows the content served."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fuse.core import NDict, create_initial_sample
from fuse.data import OpReadDataframe, OpReadMultiFromDataframe, PipelineDefault, SampleIdNotFoundError


def _table() -> pd.DataFrame:
    return pd.DataFrame(  # type: ignore[no-any-return]
        {
            "sample_id": ["a", "b", "c"],
            "age": [31, 47, 52],
            "weight": [60.5, 80.0, 71.25],
            "clinical.sex": ["F", "M", "F"],
        }
    )


def _read(op: OpReadDataframe, sample_id: object, **kwargs: object) -> NDict:
    result = op(create_initial_sample(sample_id), **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, NDict)
    return result


def test_reads_the_row_of_the_sample_id_into_the_sample_with_dotted_columns_nested() -> None:
    sample = _read(OpReadDataframe(_table()), "b")
    assert sample["age"] == 47
    assert type(sample["age"]) is int
    assert sample["weight"] == 80.0
    assert sample["clinical"]["sex"] == "M"
    assert sample["data.sample_id"] == "b"
    assert "sample_id" not in sample  # the key column is dropped by default
    assert sorted(sample.keypaths()) == sorted(
        ["data.initial_sample_id", "data.sample_id", "age", "weight", "clinical.sex"]
    )


def test_prefix_columns_rename_and_keep_key_column() -> None:
    op = OpReadDataframe(_table(), columns_to_extract=["age"], rename_columns={"age": "years"})
    sample = _read(op, "c", prefix="data.meta")
    assert sample["data.meta.years"] == 52
    assert "data.meta.weight" not in sample
    assert "data.meta.age" not in sample

    kept = _read(OpReadDataframe(_table(), columns_to_extract=["age"], drop_key_column=False), "a", prefix="m")
    assert kept["m.sample_id"] == "a"
    assert kept["m.age"] == 31

    # the key column may be named by its renamed name too (FuseMedML renamed before indexing)
    renamed_key = OpReadDataframe(_table(), rename_columns={"sample_id": "id"}, key_column="id")
    assert _read(renamed_key, "a")["age"] == 31


def test_integer_ids_custom_key_name_and_index_as_key() -> None:
    table = pd.DataFrame({"patient": [10, 20, 30], "score": [0.1, 0.2, 0.3]})
    op = OpReadDataframe(table, key_column="patient", key_name="data.patient_id")
    sample = create_initial_sample("x")
    sample["data.patient_id"] = np.int64(20)  # numpy ints find Python int keys
    result = op(sample)
    assert result["score"] == 0.2
    assert op.get_all_keys() == [10, 20, 30]

    by_index = OpReadDataframe(table.set_index("patient"), key_column=None)
    assert _read(by_index, 30)["score"] == 0.3
    assert by_index.get_all_keys() == [10, 20, 30]


def test_unknown_id_names_it_and_known_ids_with_a_type_hint() -> None:
    op = OpReadDataframe(pd.DataFrame({"sample_id": list(range(10)), "v": list(range(10))}))
    with pytest.raises(SampleIdNotFoundError) as error:
        _read(op, 99)
    message = str(error.value)
    assert "99" in message
    assert "[0, 1, 2, 3, 4]" in message
    assert "5 more" in message
    assert isinstance(error.value, KeyError)
    with pytest.raises(SampleIdNotFoundError, match=r"the table has 3 \(int\) but the sample holds a str"):
        _read(op, "3")
    missing_key = create_initial_sample("a")
    with pytest.raises(KeyError, match=r"data\.other"):
        OpReadDataframe(_table(), key_name="data.other")(missing_key)


def test_cell_values_are_copied_so_in_place_changes_do_not_reach_the_table() -> None:
    table = pd.DataFrame({"sample_id": ["a"], "vector": [np.array([1.0, 2.0])], "tokens": [[1, 2]]})
    op = OpReadDataframe(table)
    first = _read(op, "a")
    first["vector"] *= 10
    first["tokens"].append(3)
    second = _read(op, "a")
    np.testing.assert_array_equal(second["vector"], [1.0, 2.0])
    assert second["tokens"] == [1, 2]


@pytest.mark.parametrize("suffix", [".csv", ".pkl", ".pkl.gz", ".tsv"])
def test_reads_dataframe_files(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"table{suffix}"
    table = _table()
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".tsv":
        table.to_csv(path, sep="\t", index=False)
    else:
        table.to_pickle(path)
    op = OpReadDataframe(data_filename=str(path))
    sample = _read(op, "a", prefix="data")
    assert sample["data.age"] == 31
    assert sample["data.clinical.sex"] == "F"
    assert op.get_all_keys() == ["a", "b", "c"]
    assert OpReadDataframe(data_filename=path).get_all_keys() == ["a", "b", "c"]  # a Path works too


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match=r"exactly one of `data`.*neither"):
        OpReadDataframe()
    with pytest.raises(ValueError, match="both"):
        OpReadDataframe(_table(), data_filename="x.csv")
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        OpReadDataframe(data_filename="nope.csv")
    with pytest.raises(TypeError, match="DataFrame"):
        OpReadDataframe({"sample_id": [1]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"columns_to_extract names columns \['height'\]"):
        OpReadDataframe(_table(), columns_to_extract=["height"])
    with pytest.raises(TypeError, match="list of column names"):
        OpReadDataframe(_table(), columns_to_extract="age")
    with pytest.raises(ValueError, match=r"rename_columns names columns \['heigth'\]"):
        OpReadDataframe(_table(), rename_columns={"heigth": "h"})
    with pytest.raises(ValueError, match="key_column 'id' is not a column"):
        OpReadDataframe(_table(), key_column="id")
    with pytest.raises(ValueError, match=r"repeated keys \['a'\]"):
        OpReadDataframe(pd.DataFrame({"sample_id": ["a", "a"], "v": [1, 2]}))
    with pytest.raises(ValueError, match="several columns map"):
        OpReadDataframe(_table(), rename_columns={"age": "weight"})
    with pytest.raises(TypeError, match="prefix"):
        _read(OpReadDataframe(_table()), "a", prefix=3)


def test_multi_read_puts_each_row_under_its_position() -> None:
    table = pd.DataFrame({"sample_id": [0, 1, 2, 3, 4], "my_data": [10, 11, 12, 13, 14], "name": list("abcde")})
    op = OpReadMultiFromDataframe(table)
    sample = _read(op, "3@SEP@4")
    assert sample["my_data.0"] == 13
    assert sample["my_data.1"] == 14
    assert sample["name.0"] == "d"
    assert sample["name.1"] == "e"
    assert _read(op, "2")["my_data.0"] == 12  # a single id
    assert _read(op, 1)["my_data.0"] == 11  # non-string ids are compared as strings
    assert op.get_all_keys() == ["0", "1", "2", "3", "4"]

    custom = OpReadMultiFromDataframe(table, columns_to_extract=["my_data"], multi_key_sep="+")
    prefixed = _read(custom, "0+2+0", prefix="pair")
    assert [prefixed[f"pair.my_data.{i}"] for i in range(3)] == [10, 12, 10]
    assert "pair.name.0" not in prefixed
    with pytest.raises(SampleIdNotFoundError, match="'7'"):
        _read(op, "1@SEP@7")
    with pytest.raises(ValueError, match="multi_key_sep"):
        OpReadMultiFromDataframe(table, multi_key_sep="")
    with pytest.raises(ValueError, match="repeated keys"):
        OpReadMultiFromDataframe(pd.DataFrame({"sample_id": [1, "1"], "v": [1, 2]}))


def test_multi_read_from_file_keeps_its_argument_order(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"id": [5, 6], "v": [1.5, 2.5]}).to_csv(path, index=False)
    # FuseMedML's positional order: data, data_filename, columns, rename, key_name, key_column, multi_key_sep
    op = OpReadMultiFromDataframe(None, str(path), None, None, "data.sample_id", "id", "|")
    sample = _read(op, "6|5")
    assert (sample["v.0"], sample["v.1"]) == (2.5, 1.5)


def _identity(op: OpReadDataframe, **kwargs: object) -> str:
    return PipelineDefault("p", [(op, dict(kwargs))]).cache_identity()


def test_cache_identity_follows_dataframe_content_and_arguments() -> None:
    base = _identity(OpReadDataframe(_table()))
    assert base == _identity(OpReadDataframe(_table()))
    changed = _table()
    changed.loc[1, "age"] = 48
    assert _identity(OpReadDataframe(changed)) != base
    assert _identity(OpReadDataframe(_table(), columns_to_extract=["age"])) != base
    assert _identity(OpReadDataframe(_table(), rename_columns={"age": "years"})) != base
    assert _identity(OpReadDataframe(_table(), drop_key_column=False)) != base
    assert _identity(OpReadDataframe(_table(), key_name="data.other")) != base
    assert _identity(OpReadDataframe(_table()), prefix="data") != base
    assert _identity(OpReadMultiFromDataframe(_table())) != base

    # the identity is fixed at construction: it describes what the op serves, not the caller's later edits
    table = _table()
    op = OpReadDataframe(table)
    table.loc[0, "age"] = 0
    assert _identity(op) == base
    assert _read(op, "a")["age"] == 31


def test_cache_identity_follows_file_content_not_its_directory(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    _table().to_csv(first / "table.csv", index=False)
    _table().to_csv(second / "table.csv", index=False)
    base = _identity(OpReadDataframe(data_filename=str(first / "table.csv")))
    assert base == _identity(OpReadDataframe(data_filename=str(second / "table.csv")))  # moved data keeps the cache

    changed = _table()
    changed.loc[2, "weight"] = 71.5
    stat = os.stat(second / "table.csv")
    changed.to_csv(second / "table.csv", index=False)
    os.utime(second / "table.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: content still counts
    assert _identity(OpReadDataframe(data_filename=str(second / "table.csv"))) != base

    with open(first / "table.pkl", "wb") as f:
        pickle.dump(_table(), f)
    assert _identity(OpReadDataframe(data_filename=str(first / "table.pkl"))) != base  # another file


def test_reading_many_rows_is_fast() -> None:
    rows = 100_000
    table = pd.DataFrame({"sample_id": np.arange(rows), "a": np.random.default_rng(0).random(rows), "b": ["x"] * rows})
    start = time.perf_counter()
    op = OpReadDataframe(table)
    for sample_id in range(0, rows, 10):
        op(create_initial_sample(sample_id))
    assert time.perf_counter() - start < 5.0
    assert _read(op, rows - 1)["b"] == "x"
