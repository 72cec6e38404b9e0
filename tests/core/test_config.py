"""Config: dicts, Python config files (with or without .py, including configs that include others), callables."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fuse.core import Config, get_config_function


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "base_conf_example.py").write_text(
        "def load_config(config: dict) -> dict:\n    config['banana'] = 12\n    config['dvivonim'] = 10\n    return config\n"
    )
    (tmp_path / "some_conf_internal_include.py").write_text(
        textwrap.dedent(
            """
            import os
            from fuse.core import get_config_function

            def load_config(config: dict) -> dict:
                base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "base_conf_example.py")
                config = get_config_function(base)(config)
                config["banana"] = 123
                return config
            """
        )
    )
    (tmp_path / "some_conf_no_include.py").write_text(
        "def load_config(config: dict) -> dict:\n    config['banana'] = 123\n    return config\n"
    )
    return tmp_path


def test_fusemedml_config_example(config_dir: Path) -> None:
    reference = {"test": 240, "banana": 123, "dvivonim": 10}
    conf = Config()
    no_py_ext = conf.load({"test": 14}, str(config_dir / "some_conf_internal_include"), {"test": 240})
    with_py_ext = conf.load({"test": 14}, str(config_dir / "some_conf_internal_include.py"), {"test": 240})
    external_include = conf.load(
        {"test": 14}, config_dir / "base_conf_example.py", str(config_dir / "some_conf_no_include.py"), {"test": 240}
    )
    no_include = conf.load({"test": 14}, str(config_dir / "some_conf_no_include.py"), {"test": 240})
    assert no_py_ext == reference
    assert with_py_ext == reference
    assert external_include == reference
    assert no_include != reference


def test_callables_apply_in_order() -> None:
    assert Config().load({"a": 1}, lambda c: {**c, "a": c["a"] + 1}, {"b": 0}) == {"a": 2, "b": 0}


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        Config().load(str(tmp_path / "nope"))
    (tmp_path / "bad.py").write_text("x = 1\n")
    with pytest.raises(TypeError, match=r"bad\.py.*must define load_config"):
        get_config_function(tmp_path / "bad.py")
    with pytest.raises(TypeError, match="element #1 must be a dict"):
        Config().load({}, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="returned NoneType"):
        Config().load(lambda c: None)  # type: ignore[arg-type,return-value]
