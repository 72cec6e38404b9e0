"""FuseMedML 0.4.1 names and keywords that fuse-core keeps: renamed keywords, the sample-id key functions, and
``create_or_reset_dir`` (which must never empty the wrong directory)."""

from __future__ import annotations

import inspect
import os
import re
import warnings
from pathlib import Path

import pytest

from fuse.core import (
    INITIAL_SAMPLE_ID_KEY,
    SAMPLE_ID_KEY,
    AtomicFileWriter,
    create_initial_sample,
    create_or_reset_dir,
    delete_directory_tree,
    get_initial_sample_id_key,
    get_sample_id_key,
    renamed_keywords,
)


# ---------------------------------------------------------------------------- renamed keywords
def test_atomic_file_writer_accepts_fusemedmls_filename_keyword_with_a_deprecation_warning(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.warns(DeprecationWarning, match=r"AtomicFileWriter\(filename=\.\.\.\) is deprecated: use .*path="):
        writer = AtomicFileWriter(filename=str(target))
    with writer as f:
        f.write(b"abc")
    assert target.read_bytes() == b"abc"


def test_atomic_file_writer_refuses_both_names(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"both filename= .* and path="):
        AtomicFileWriter(path=tmp_path / "a", filename=str(tmp_path / "b"))


def test_the_new_name_warns_nothing_and_the_signature_shows_it(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with AtomicFileWriter(path=tmp_path / "a", mode="w") as f:
            f.write("x")
    assert "path" in inspect.signature(AtomicFileWriter).parameters
    assert "filename" not in inspect.signature(AtomicFileWriter).parameters


def test_renamed_keywords_checks_the_names_when_decorating() -> None:
    with pytest.raises(TypeError, match="must take 'path'"):

        @renamed_keywords(filename="path")
        def no_path(name: str) -> str:
            return name


def test_renamed_keywords_warns_at_the_callers_line() -> None:
    @renamed_keywords(old="new")
    def f(new: int) -> int:
        return new

    with pytest.warns(DeprecationWarning, match=r"f\(old=\.\.\.\) is deprecated") as caught:
        assert f(old=3) == 3
    assert caught[0].filename == __file__


# ---------------------------------------------------------------------------- sample id keys
def test_sample_id_key_functions_return_the_constants_used_by_samples() -> None:
    sample = create_initial_sample("case", "case_a")
    assert get_sample_id_key() == SAMPLE_ID_KEY == "data.sample_id"
    assert get_initial_sample_id_key() == INITIAL_SAMPLE_ID_KEY == "data.initial_sample_id"
    assert (sample[get_sample_id_key()], sample[get_initial_sample_id_key()]) == ("case_a", "case")


# ---------------------------------------------------------------------------- create_or_reset_dir
def test_creates_a_missing_directory_with_its_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    create_or_reset_dir(target)
    assert target.is_dir()
    assert list(target.iterdir()) == []


def test_an_empty_or_only_ignored_directory_is_kept_without_force(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("k")
    create_or_reset_dir(tmp_path, ignore_files=["keep.txt"])
    assert (tmp_path / "keep.txt").read_text() == "k"


def test_a_non_empty_directory_is_refused_without_force_reset_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text("precious")
    with pytest.raises(
        FileExistsError, match=rf"{re.escape(str(tmp_path))}.*1 entries \(results.csv\).*force_reset=True"
    ):
        create_or_reset_dir(tmp_path)
    assert (tmp_path / "results.csv").read_text() == "precious"


def test_force_reset_empties_files_folders_and_links_but_keeps_ignored_names_and_link_targets(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    (out / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "data.txt").write_text("not mine")
    (out / "sub" / "f.txt").write_text("x")
    (out / "old.txt").write_text("x")
    (out / "keep.txt").write_text("k")
    os.symlink(outside, out / "link")  # a link to a directory: remove the link, never what it points to
    create_or_reset_dir(out, ignore_files="keep.txt", force_reset=True)  # one string is one name
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (outside / "data.txt").read_text() == "not mine"


@pytest.mark.parametrize("where", ["root", "home", "cwd", "parent_of_cwd"])
def test_refuses_root_home_and_the_current_directory_naming_the_path(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home" / "me"
    work = home / "project"
    work.mkdir(parents=True)
    (work / "data.csv").write_text("precious")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    target = {"root": Path("/"), "home": home, "cwd": Path("."), "parent_of_cwd": tmp_path}[where]
    for destroy in (lambda: create_or_reset_dir(target, force_reset=True), lambda: delete_directory_tree(target)):
        with pytest.raises(ValueError, match="refuses") as error:
            destroy()
        assert repr(os.fspath(target)) in str(error.value)
    assert (work / "data.csv").read_text() == "precious"


def test_delete_directory_tree_still_deletes_an_ordinary_directory(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    assert delete_directory_tree(tmp_path / "d") is True
    assert not (tmp_path / "d").exists()


def test_ndict_update_with_fusemedmls_dict_like_keyword_merges_and_warns() -> None:
    """``update(dict_like=m)`` was FuseMedML's call; dict semantics stored ``m`` under the key ``dict_like``."""
    from fuse.core import NDict

    nd = NDict({"a": 1})
    with pytest.warns(DeprecationWarning, match=r"update\(dict_like=\.\.\.\) is FuseMedML's call"):
        nd.update(dict_like={"b": {"c": 2}})
    assert dict(nd) == {"a": 1, "b.c": 2}
    view = nd["b"]
    with pytest.warns(DeprecationWarning, match="dict_like"):
        view.update(dict_like={"d": 3})
    assert dict(nd) == {"a": 1, "b.c": 2, "b.d": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # other calls are dict.update's, quietly
        nd.update({"e": 4}, f=5)
        nd.update(dict_like=6)  # not a mapping: a key of that name, as dict.update would
    assert (nd["e"], nd["f"], nd["dict_like"]) == (4, 5, 6)
