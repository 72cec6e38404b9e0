"""Property tests: NDict behaves like a plain nested dict under random sequences of operations."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fuse.core import NDict

SEGMENTS = st.sampled_from(["a", "b", "c", "img", "x1"])
KEYPATHS = st.lists(SEGMENTS, min_size=1, max_size=4).map(".".join)
LEAVES = st.one_of(st.integers(), st.text(max_size=3), st.none(), st.lists(st.integers(), max_size=2))
NESTED_VALUES = st.recursive(
    LEAVES, lambda inner: st.dictionaries(SEGMENTS, inner, min_size=1, max_size=3), max_leaves=6
)


def _model_get(model: dict[str, Any], keypath: str) -> Any:
    node: Any = model
    for part in keypath.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(keypath)
        node = node[part]
    return node


def _model_set(model: dict[str, Any], keypath: str, value: Any) -> bool:
    """Set like NDict (mappings merge into the subtree); False when a plain nested dict cannot hold it."""
    *parents, leaf = keypath.split(".")
    node = model
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return False
        node = child
    if isinstance(value, dict):
        if leaf in node and not isinstance(node[leaf], dict):
            return False
        target = node.setdefault(leaf, {})
        return all(_model_set(target, key, sub) for key, sub in value.items()) if value else True
    if leaf in node and isinstance(node[leaf], dict):
        return False
    node[leaf] = value
    return True


def _model_delete(model: dict[str, Any], keypath: str) -> bool:
    *parents, leaf = keypath.split(".")
    try:
        parent = _model_get(model, ".".join(parents)) if parents else model
    except KeyError:
        return False
    if not isinstance(parent, dict) or leaf not in parent:
        return False
    del parent[leaf]
    return True


def _prune_empty(node: dict[str, Any]) -> dict[str, Any]:
    pruned = {}
    for key, value in node.items():
        if isinstance(value, dict):
            subtree = _prune_empty(value)
            if subtree:
                pruned[key] = subtree
        else:
            pruned[key] = value
    return pruned


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, prefix + key + "."))
        else:
            flat[prefix + key] = value
    return flat


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("set"), KEYPATHS, NESTED_VALUES),
        st.tuples(st.just("del"), KEYPATHS, st.none()),
        st.tuples(st.just("set_via_view"), KEYPATHS, LEAVES),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(OPERATIONS, KEYPATHS)
def test_ndict_matches_nested_dict_model(operations: list[tuple[str, str, Any]], probe: str) -> None:
    nd = NDict()
    model: dict[str, Any] = {}
    for operation, keypath, value in operations:
        if operation == "set":
            trial = _copy_model(model)
            if not _model_set(trial, keypath, value):
                continue  # a leaf/prefix clash a nested dict cannot represent
            model = trial
            nd[keypath] = value
        elif operation == "set_via_view":
            parent, _, leaf = keypath.rpartition(".")
            if not parent or parent not in nd or dict.__contains__(nd, parent):
                continue
            trial = _copy_model(model)
            if not _model_set(trial, keypath, value):
                continue
            model = trial
            nd[parent][leaf] = value
        else:
            model = _prune_empty(model)
            if _model_delete(model, keypath):
                del nd[keypath]
            else:
                assert keypath not in nd
        model = _prune_empty(model)
        assert nd.to_dict() == _flatten(model)
        assert len(nd) == len(_flatten(model))

    assert nd.unflatten() == model
    assert sorted(nd.top_level_keys()) == sorted(model)
    try:
        expected = _model_get(model, probe)
    except KeyError:
        assert probe not in nd
        assert nd.get(probe, "missing") == "missing"
    else:
        assert probe in nd
        got = nd[probe]
        if isinstance(expected, dict):
            assert isinstance(got, NDict)
            assert got.unflatten() == expected
            assert len(got) == len(_flatten(expected))
        else:
            assert got == expected


def _copy_model(model: dict[str, Any]) -> dict[str, Any]:
    return {key: _copy_model(value) if isinstance(value, dict) else value for key, value in model.items()}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(SEGMENTS, NESTED_VALUES, max_size=4))
def test_round_trips(nested: dict[str, Any]) -> None:
    nd = NDict(nested)
    model = _prune_empty(_copy_model(nested))
    assert nd.unflatten() == model
    assert NDict(nd.unflatten()) == nd
    assert NDict(nd.to_dict(), already_flat=True) == nd
    assert nd.clone() == nd
