"""Path helpers (FuseMedML's test_path.py behaviours)."""

from fuse.core import add_base_prefix, change_extension, get_extension, get_valid_filename, remove_extension


def test_fusemedml_path_examples() -> None:
    assert add_base_prefix("/a/b/c/de/fg/banana.phone", "hohoho@") == "/a/b/c/de/fg/hohoho@banana.phone"
    assert change_extension("/a/b/c/de/fg/123.txt", "7zip") == "/a/b/c/de/fg/123.7zip"
    assert change_extension("/a/b/c/de/fg/123.456.txt", "7zip") == "/a/b/c/de/fg/123.456.7zip"
    assert get_extension("/a/b/c/de/fg/123.456.7zip") == ".7zip"
    assert remove_extension("/a/b/c/de/fg/123.456.7zip") == "/a/b/c/de/fg/123.456"
    assert get_valid_filename("test 1 2 3 he^^llo") == "test_1_2_3_he^^llo"


def test_dots_in_directories_are_not_extensions() -> None:
    assert get_extension("/a/b.c/README") == ""
    assert remove_extension("/a/b.c/README") == "/a/b.c/README"
    assert change_extension("/a/b.c/README", ".md") == "/a/b.c/README.md"
    assert change_extension("file.zip", "7zip") == "file.7zip"
    assert add_base_prefix("name.txt", "pre_") == "pre_name.txt"


def test_valid_filename_replaces_separators_and_reserved_characters() -> None:
    assert get_valid_filename('  a/b\\c:d"e*f?g<h>i|j  ') == "a@b@c@d@e@f@g@h@i@j"
