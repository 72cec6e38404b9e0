"""One public-name policy: every class and function in a package's ``__all__`` reports the package as its module."""

from __future__ import annotations

import importlib
import inspect
import pickle
import types

import pytest

import fuse.core
from fuse.core import NDict, defining_module, publish_public_names


def _package(name: str, **members: object) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": name}
    namespace.update(members)
    return namespace


def test_classes_and_functions_defined_privately_get_the_package_path() -> None:
    class Thing:
        pass

    def helper() -> None:
        pass

    Thing.__module__ = helper.__module__ = "pkg._private"
    namespace = _package("pkg", Thing=Thing, helper=helper, CONSTANT=3)
    publish_public_names(namespace, "pkg", ["CONSTANT", "Thing", "helper"])
    assert (Thing.__module__, helper.__module__) == ("pkg", "pkg")
    assert defining_module(Thing) == defining_module(helper) == "pkg._private"


def test_a_module_in_a_concern_folder_counts_as_private_but_a_public_sub_package_does_not() -> None:
    class InFolder:
        pass

    class InPublicSubPackage:
        pass

    InFolder.__module__ = "pkg.cache._store"
    InPublicSubPackage.__module__ = "pkg.datasets"  # a public module below the package: its own path stays
    namespace = _package("pkg", InFolder=InFolder, InPublicSubPackage=InPublicSubPackage)
    publish_public_names(namespace, "pkg", ["InFolder", "InPublicSubPackage"])
    assert InFolder.__module__ == "pkg"
    assert defining_module(InFolder) == "pkg.cache._store"
    assert InPublicSubPackage.__module__ == "pkg.datasets"


def test_a_package_with_a_similar_name_is_not_below_it() -> None:
    class Neighbour:
        pass

    Neighbour.__module__ = "pkg_extra._private"
    publish_public_names(_package("pkg", Neighbour=Neighbour), "pkg", ["Neighbour"])
    assert Neighbour.__module__ == "pkg_extra._private"


def test_names_from_elsewhere_are_left_alone() -> None:
    class Foreign:
        pass

    Foreign.__module__ = "other._private"
    publish_public_names(_package("pkg", Foreign=Foreign), "pkg", ["Foreign"])
    assert Foreign.__module__ == "other._private"
    assert defining_module(Foreign) == "other._private"


def test_a_subclass_does_not_inherit_its_bases_defining_module() -> None:
    class Base:
        pass

    Base.__module__ = "pkg._base"
    publish_public_names(_package("pkg", Base=Base), "pkg", ["Base"])

    class UserOp(Base):
        pass

    assert defining_module(UserOp) == __name__


def test_all_listing_a_missing_name_raises_naming_it() -> None:
    with pytest.raises(AttributeError, match=r"'Missing'.*pkg/__init__\.py"):
        publish_public_names(_package("pkg"), "pkg", ["Missing"])


def test_fuse_core_follows_the_policy_and_pickles_record_the_public_path() -> None:
    for name in fuse.core.__all__:
        value = getattr(fuse.core, name)
        if isinstance(value, type) or inspect.isfunction(value):
            assert value.__module__ == "fuse.core", name
            private = importlib.import_module(defining_module(value) or "")
            assert getattr(private, name) is value
    assert b"fuse.core\x94\x8c\x05NDict" in pickle.dumps(NDict({"a": 1}))


def test_source_stays_reachable_through_the_defining_module() -> None:
    module = importlib.import_module(defining_module(NDict) or "")
    assert isinstance(module, types.ModuleType)
    assert "class NDict" in inspect.getsource(module)
