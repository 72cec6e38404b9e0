"""NDict: FuseMedML's pinned behaviours (its test_ndict.py) and the deliberate fixes (live views, equality, ...)."""

from __future__ import annotations

import copy
import gc
import json
import pickle
import weakref

import numpy as np
import pytest

from fuse.core import NDict, NDictView, NestedKeyError


@pytest.fixture
def nested() -> NDict:
    return NDict({"a": 1, "b": {"c": 2, "d": 3}, "c": 4})


# ---------------------------------------------------------------- FuseMedML's test_ndict.py behaviours
def test_get(nested: NDict) -> None:
    assert nested["a"] == 1
    assert nested["b.c"] == 2
    assert nested["c"] == 4
    assert nested["b"].to_dict() == {"c": 2, "d": 3}


def test_set_and_nested_access(nested: NDict) -> None:
    nested["a"] = 7
    assert nested["a"] == 7
    nested["b.d"] = 5
    assert nested["b"]["d"] == 5
    nested["b.e.f.g"] = 9
    assert nested["b"]["e"]["f"]["g"] == 9
    del nested["b"]["e"]  # FuseMedML silently did nothing here: the view was a copy
    assert "b.e" not in nested
    assert nested.keypaths() == ["a", "b.c", "b.d", "c"]


def test_pop(nested: NDict) -> None:
    assert nested.pop("b.d") == 3
    assert set(nested.keypaths()) == {"a", "b.c", "c"}
    nested.pop("c")
    assert set(nested.keypaths()) == {"a", "b.c"}
    with pytest.raises(KeyError):
        nested.pop("c")
    with pytest.raises(KeyError):
        nested.pop("lala")
    assert nested.pop("lala", "fallback") == "fallback"


def test_pop_prefix_returns_an_independent_snapshot(nested: NDict) -> None:
    popped = nested.pop("b")
    assert popped == NDict({"c": 2, "d": 3})
    assert popped.keypaths() == ["c", "d"]
    assert nested.keypaths() == ["a", "c"]


def test_keypaths_when_a_leaf_is_also_a_prefix() -> None:
    nd = NDict()
    nd["a.b.c"] = "d"
    nd["a.b.c.d"] = "e"
    assert nd.keypaths() == ["a.b.c", "a.b.c.d"]
    assert nd["a.b.c"] == "d"  # the exact key wins over the prefix


def test_top_level_keys_in_first_appearance_order() -> None:
    nd = NDict()
    nd["a.b.c"] = 11
    nd["e.f"] = 17
    nd["a.d"] = 13
    nd["g.h.i"] = 19
    assert nd.top_level_keys() == ["a", "e", "g"]


def test_contains(nested: NDict) -> None:
    for key in ("a", "b", "b.c", "b.d", "c"):
        assert key in nested
    for key in ("d", "e", "b.c.x", "b.", ""):
        assert key not in nested
    nd = NDict({"a": 1, "b.c": 2})
    assert "b" in nd
    assert "c" not in nd
    assert "42" not in nd
    assert 42 not in nd


def test_apply_on_all(nested: NDict) -> None:
    copied = nested.clone()
    copied.apply_on_all(lambda value, inc: value + inc, 1)
    assert copied.keypaths() == nested.keypaths()
    for key in nested:
        assert copied[key] == nested[key] + 1


def test_flatten_is_self(nested: NDict) -> None:
    assert nested.flatten() is nested


def test_indices_with_boolean_mask() -> None:
    nd = NDict(
        {
            "a": np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]]),
            "b": {"d": [0, 1, 2], "t": ("x", "y", "z"), "f": 4, "s": "keep"},
        }
    )
    selected = nd.indices(np.array([True, False, True]))
    assert isinstance(selected, NDict)
    np.testing.assert_array_equal(selected["a"], np.array([[0, 1, 2], [6, 7, 8]]))
    assert selected["b.d"] == [0, 2]
    assert selected["b.t"] == ("x", "z")
    assert selected["b.f"] == 4
    assert selected["b.s"] == "keep"


def test_indices_with_integer_indices() -> None:
    nd = NDict({"a": np.arange(5) * 10, "ids": ["p", "q", "r", "s", "t"], "scalar": np.float32(2.0)})
    selected = nd.indices([4, 0])
    assert selected["a"].tolist() == [40, 0]
    assert selected["ids"] == ["t", "p"]
    assert selected["scalar"] == np.float32(2.0)


def test_indices_mask_length_mismatch_names_the_key() -> None:
    nd = NDict({"ids": ["a", "b"]})
    with pytest.raises(ValueError, match="'ids'"):
        nd.indices(np.array([True, False, True]))


def test_get_sub_dict() -> None:
    nd = NDict()
    nd["a.b.c.c1"] = "x1"
    nd["a.b.c.c2"] = "x2"
    nd["a.b.c.c3"] = "x3"
    assert nd.get_sub_dict("a").to_dict() == {"b.c.c1": "x1", "b.c.c2": "x2", "b.c.c3": "x3"}
    assert nd.get_sub_dict("a.b").to_dict() == {"c.c1": "x1", "c.c2": "x2", "c.c3": "x3"}
    assert nd.get_sub_dict("a.b.c").to_dict() == {"c1": "x1", "c2": "x2", "c3": "x3"}
    assert nd.get_sub_dict("a.b.c.c1") is None
    assert nd.get_sub_dict("a.q.q") is None


def test_get_closest_keys() -> None:
    nd = NDict()
    nd["a.b.c"] = 42
    assert nd.get_closest_keys("a")[0] == "a"
    assert nd.get_closest_keys("a.b")[0] == "a.b"
    assert nd.get_closest_keys("a.b.c", 1)[0] == "a.b.c"
    assert nd.get_closest_keys("a.bb", 2)[0] == "a.b"


def test_delete_value_and_subtree() -> None:
    nd = NDict()
    nd["a.b"] = 42
    nd["a.c"] = 42
    del nd["a.b"]
    with pytest.raises(KeyError):
        del nd["a.b"]
    assert nd.to_dict() == {"a.c": 42}

    nd = NDict()
    nd["a.b"] = 23
    nd["a.b.c"] = 42
    del nd["a.b"]
    assert nd.to_dict() == {}


def test_merge() -> None:
    nd1, nd2 = NDict(), NDict()
    nd1["a.b.c"] = None
    nd2["a.b.d"] = None
    assert nd1.merge(nd2) is nd1
    assert len(nd1) == 2
    assert nd1.get_sub_dict("a.b").to_dict() == {"c": None, "d": None}


def test_nested_constructor() -> None:
    nd = NDict({"a": {"b": {"c": 42}}})
    assert nd["a.b.c"] == 42
    assert NDict([("x.y", 1), ("z", {"w": 2})]).to_dict() == {"x.y": 1, "z.w": 2}


def test_get_tree() -> None:
    nd = NDict()
    nd["a.b.c"] = 42
    nd["a.d"] = 23
    nd["e"] = 10
    assert nd.get_tree(print_values=True) == "--- a\n------ b\n--------- c -> 42\n------ d -> 23\n--- e -> 10"
    assert nd.get_tree() == "--- a\n------ b\n--------- c\n------ d\n--- e"


def test_print_tree_and_describe(capsys: pytest.CaptureFixture[str]) -> None:
    nd = NDict({"img": np.zeros((2, 3), dtype=np.float32), "label": 1})
    nd.print_tree()
    assert capsys.readouterr().out == "--- img\n--- label\n"
    nd.describe()
    out = capsys.readouterr().out
    assert "img\n\ttype=<class 'numpy.ndarray'>\n\tshape=(2, 3)\n\tdtype=float32" in out
    assert "label\n\ttype=<class 'int'>" in out


def test_unflatten() -> None:
    nd = NDict()
    nd["a.b.c"] = 42
    nd["a.b.d"] = 23
    assert nd.unflatten()["a"]["b"] == {"c": 42, "d": 23}
    assert nd["a"].unflatten()["b"] == {"c": 42, "d": 23}


def test_unflatten_refuses_a_leaf_that_is_also_a_prefix() -> None:
    nd = NDict({"a.b": 1, "a.b.c": 2})
    with pytest.raises(ValueError, match=r"'a\.b' holds a value and is also the prefix of 'a\.b\.c'"):
        nd.unflatten()
    nd = NDict({"a.b.c": 2, "a.b": 1})
    with pytest.raises(ValueError, match=r"'a\.b' holds a value and is also the prefix of 'a\.b\.c'"):
        nd.unflatten()


# ---------------------------------------------------------------- live views (FuseMedML returned detached copies)
def test_prefix_returns_live_view(nested: NDict) -> None:
    view = nested["b"]
    view["c"] = 20
    view["new.deep"] = 1
    assert nested["b.c"] == 20
    assert nested["b.new.deep"] == 1
    nested["b.d"] = 30
    assert view["d"] == 30
    assert len(view) == 3
    assert view.keypaths() == ["c", "d", "new.deep"]
    assert dict(view.items()) == {"c": 20, "d": 30, "new.deep": 1}
    assert list(view.values()) == [20, 30, 1]


def test_view_of_view_and_delete_through_view() -> None:
    nd = NDict({"data": {"input": {"img": 1, "seg": 2}, "sample_id": "x"}})
    inner = nd["data"]["input"]
    assert inner.keypaths() == ["img", "seg"]
    del inner["seg"]
    assert nd.keypaths() == ["data.input.img", "data.sample_id"]
    assert nd.get_sub_dict("data") == NDict({"input.img": 1, "sample_id": "x"})


def test_view_pickles_and_copies_as_an_independent_ndict(nested: NDict) -> None:
    view = nested["b"]
    for clone in (pickle.loads(pickle.dumps(view)), copy.copy(view), copy.deepcopy(view), view.clone()):
        assert clone.keypaths() == ["c", "d"]
        clone["c"] = 100
        assert nested["b.c"] == 2


def test_assigning_a_view_of_itself_snapshots_it(nested: NDict) -> None:
    nested["copy_of_b"] = nested["b"]
    assert nested["copy_of_b"].to_dict() == {"c": 2, "d": 3}
    nested.merge(nested)
    assert len(nested) == 6


# ---------------------------------------------------------------- equality, pickling, JSON, copies
def test_equality_compares_contents() -> None:
    assert NDict({"a": 1}) != NDict({"b": 2})  # FuseMedML: True (empty base dicts)
    assert NDict({"a": {"b": 1}}) == NDict({"a.b": 1})
    assert NDict({"a": {"b": 1}}) == {"a": {"b": 1}}
    assert NDict({"a": 1}) != {"a": 2}
    assert NDict({"a": 1}) != [("a", 1)]
    assert NDict({"x": np.float64(1.0)}) == NDict({"x": 1.0})


def test_equality_with_arrays() -> None:
    a = NDict({"img": np.array([1.0, np.nan]), "ids": ["a"]})
    assert a == a.clone()
    assert a != NDict({"img": np.array([1.0, 2.0]), "ids": ["a"]})
    assert a != NDict({"img": np.array([1.0, np.nan, 3.0]), "ids": ["a"]})
    assert a != NDict({"img": np.array([1, 2]), "ids": ["a"]})  # dtype differs
    assert a != NDict({"img": [1.0, np.nan], "ids": ["a"]})  # list is not an array
    assert NDict({"s": np.array(["x", "y"])}) == NDict({"s": np.array(["x", "y"])})


def test_pickle_round_trip(nested: NDict) -> None:
    nested["arr"] = np.arange(3)
    restored = pickle.loads(pickle.dumps(nested))
    assert type(restored) is NDict
    assert restored == nested
    assert restored.keypaths() == nested.keypaths()
    assert "fuse.core" in str(pickle.dumps(nested))  # pickles record the public import path


def test_json_nested_via_unflatten_and_flat_directly(nested: NDict) -> None:
    text = json.dumps(nested.unflatten())
    assert json.loads(text) == {"a": 1, "b": {"c": 2, "d": 3}, "c": 4}
    assert NDict(json.loads(text)) == nested
    assert json.loads(json.dumps(nested)) == {"a": 1, "b.c": 2, "b.d": 3, "c": 4}  # FuseMedML gave '{}'
    with pytest.raises(TypeError, match="not JSON serializable"):
        json.dumps(nested["b"])  # a live view is no dict: an error, never a silent '{}'
    assert json.loads(json.dumps(nested["b"].to_dict())) == {"c": 2, "d": 3}


def test_clone_deep_and_shallow() -> None:
    nd = NDict({"x": [1]})
    deep, shallow = nd.clone(), nd.clone(deepcopy=False)
    nd["x"].append(2)
    assert deep["x"] == [1]
    assert shallow["x"] == [1, 2]
    shallow["y"] = 3
    assert "y" not in nd


def test_ndict_constructor_copies_another_ndict() -> None:
    original = NDict({"a": 1})
    copied = NDict(original)
    copied["b"] = 2
    assert "b" not in original  # FuseMedML aliased the storage


def test_already_flat_copies_without_flattening() -> None:
    storage = {"a.b": 1}
    nd = NDict(storage, already_flat=True)
    assert nd["a"]["b"] == 1
    nd["c"] = 2
    assert storage == {"a.b": 1}  # FuseMedML adopted (aliased) the dict
    with pytest.raises(TypeError, match="plain dict"):
        NDict(NDict(), already_flat=True)


def test_is_a_dict_of_keypaths(nested: NDict) -> None:
    assert isinstance(nested, dict)  # as in FuseMedML
    assert type(nested["b"]) is NDictView
    assert isinstance(nested["b"], NDict)  # a view has the NDict API...
    assert not isinstance(nested["b"], dict)  # ...but is no dict (C code would see it empty)
    assert {**nested} == {"a": 1, "b.c": 2, "b.d": 3, "c": 4}


def test_views_behave_for_dict_consumers(nested: NDict) -> None:
    view = nested["b"]
    assert dict(view) == {"c": 2, "d": 3}
    assert {**view} == {"c": 2, "d": 3}
    assert dict(**view) == {"c": 2, "d": 3}
    assert bool(view)
    assert list(reversed(view)) == ["d", "c"]
    assert view.copy() == NDict({"c": 2, "d": 3})
    assert type(view.copy()) is NDict
    assert view.setdefault("e", 5) == 5
    assert nested["b.e"] == 5
    assert view.popitem() == ("e", 5)
    view |= {"f": {"g": 1}}
    assert nested["b.f.g"] == 1
    assert (view | {"h": 0}).to_dict() == {"c": 2, "d": 3, "f.g": 1, "h": 0}
    assert "h" not in nested["b"]
    assert view.get("f").to_dict() == {"g": 1}
    assert view.get("zzz", 0) == 0
    view.clear()
    assert nested.to_dict() == {"a": 1, "c": 4}
    assert not view
    with pytest.raises(KeyError):
        view.popitem()


def test_dict_methods_go_through_keypath_logic() -> None:
    nd = NDict()
    nd.setdefault("a", {"b": 1})
    assert nd.to_dict() == {"a.b": 1}
    assert nd.setdefault("a.b", 7) == 1
    merged = nd | {"x": {"y": 2}}
    assert type(merged) is NDict
    assert merged.to_dict() == {"a.b": 1, "x.y": 2}
    assert ({"z": {"w": 0}} | nd).to_dict() == {"z.w": 0, "a.b": 1}
    nd |= {"q": {"r": 3}}
    assert nd["q.r"] == 3
    assert type(nd.copy()) is NDict
    assert NDict.fromkeys(["k.l", "m"], 0).to_dict() == {"k.l": 0, "m": 0}


def test_mapping_protocol(nested: NDict) -> None:
    assert len(nested) == 4
    assert list(nested) == ["a", "b.c", "b.d", "c"]
    assert dict(nested) == {"a": 1, "b.c": 2, "b.d": 3, "c": 4}
    assert bool(NDict()) is False
    assert nested.get("zzz") is None
    assert nested.get("zzz", 5) == 5
    assert nested.get("b").to_dict() == {"c": 2, "d": 3}
    nested.update({"e": {"f": 1}}, g=2)
    nested.update([("h", 3)])
    assert nested["e.f"] == 1
    assert nested["g"] == 2
    assert nested["h"] == 3
    assert repr(NDict({"a": 1})) == "NDict({'a': 1})"
    assert str(NDict({"a": 1})) == "{'a': 1}"
    with pytest.raises(TypeError):
        hash(nested)


def test_get_multi(nested: NDict) -> None:
    subset = nested.get_multi(["a", "b"])
    assert subset.to_dict() == {"a": 1, "b.c": 2, "b.d": 3}
    subset["b.c"] = 0
    assert nested["b.c"] == 2
    assert nested.get_multi() == nested
    with pytest.raises(KeyError):
        nested.get_multi(["nope"])


def test_empty_mapping_assignment_stores_nothing() -> None:
    nd = NDict({"a": {}})
    assert len(nd) == 0
    assert "a" not in nd


# ---------------------------------------------------------------- errors
def test_missing_key_error_names_closest_keys(capsys: pytest.CaptureFixture[str]) -> None:
    nd = NDict({"data": {"input": {"img": 1}}})
    with pytest.raises(NestedKeyError) as info:
        nd["data.inptu.img"]
    assert isinstance(info.value, KeyError)
    assert "'data.inptu.img'" in str(info.value)
    assert info.value.closest_keys[0] == "data.input.img"
    assert capsys.readouterr().out == ""  # FuseMedML printed the error
    with pytest.raises(NestedKeyError, match="the NDict is empty"):
        NDict()["x"]


@pytest.mark.parametrize("bad_key", ["", ".a", "a.", "a..b"])
def test_invalid_keypaths_are_rejected(bad_key: str) -> None:
    with pytest.raises(ValueError, match="invalid NDict keypath"):
        NDict()[bad_key] = 1


def test_non_string_keys_are_rejected() -> None:
    nd = NDict({"a": 1})
    with pytest.raises(TypeError, match="must be str"):
        nd[3] = 1  # type: ignore[index]
    with pytest.raises(KeyError):
        nd[3]  # type: ignore[index]
    with pytest.raises(TypeError):
        nd[["a"]]  # type: ignore[index]
    view = NDict({"x.y": 1})["x"]
    with pytest.raises(TypeError, match="must be str"):
        view[3]  # type: ignore[index]


class _Payload:
    """A value whose release a weak reference can observe."""


def test_an_ndict_and_its_views_are_freed_without_the_garbage_collector(gc_disabled: None) -> None:
    payload = _Payload()
    released = weakref.ref(payload)
    nd = NDict({"data": {"input": {"img": payload}, "sample_id": 1}})
    view = nd["data.input"]
    copy = nd.clone(deepcopy=False) | {"data.extra": 2}
    _ = ("data.input.img" in nd, nd.keypaths(), view["img"], copy.pop("data"))
    del nd, view, copy, _, payload
    assert released() is None, "a value stored in an NDict was kept alive by a reference cycle"
    assert gc.collect() == 0


def test_many_ndicts_leave_no_cyclic_garbage(gc_disabled: None) -> None:
    for i in range(100):
        nd = NDict({"data.sample_id": i, "data.input.img": np.zeros(4)})
        nd["data.label"] = i % 2
        nd.update({"model": {"output": 0.5}})
        del nd
    assert gc.collect() == 0
