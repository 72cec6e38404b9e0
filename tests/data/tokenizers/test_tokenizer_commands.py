"""``python -m fuse.data.tokenizers``: FuseMedML's create / add-tokenizer / add-special-tokens scripts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tokenizers")
yaml = pytest.importorskip("yaml")

from fuse.data import ModularTokenizer, TypedInput
from fuse.data.tokenizers._commands import main
from fuse_tokenizer_sources import GENES


def _fusemedml_config(path: Path, tokenizer: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"data": {"tokenizer": tokenizer}}))
    return path


def test_help_is_fast_and_loads_neither_tokenizers_nor_torch() -> None:
    code = (
        "import sys, runpy\nsys.argv = ['x', 'create', '--help']\n"
        "try:\n    runpy.run_module('fuse.data.tokenizers', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "assert 'tokenizers' not in sys.modules and 'torch' not in sys.modules, 'heavy import'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "--special-tokens" in out.stdout


def test_create_from_a_fusemedml_config(sources: list[dict[str, Any]], tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "modular"
    config = _fusemedml_config(
        tmp_path / "tokenizer_config.yaml",
        {
            "tokenizers_info": sources,
            "special_tokens_list": ["<EOS>"],
            "max_special_token_id": 9,
            "out_path": str(out),
            "overall_max_len": 20,
        },
    )
    assert main(["create", "--config", str(config)]) == 0
    assert "ignoring config keys ['overall_max_len']" in capsys.readouterr().err
    expected = ModularTokenizer(sources, special_tokens_list=["<EOS>"], max_special_token_id=9)
    assert ModularTokenizer.load(out).decoder_dict == expected.decoder_dict


def test_create_from_flags(sources: list[dict[str, Any]], tmp_path: Path) -> None:
    flags = [f"--tokenizer={i['name']}={i['json_path']}" for i in sources]
    assert main(["create", *flags, "--special-tokens", "<EOS>,<MASK>", "--out", str(tmp_path / "m")]) == 0
    tok = ModularTokenizer.load(tmp_path / "m")
    assert tok.get_tokenizer_types() == ["AA", "SMILES", "GENES"]
    assert list(tok.get_added_vocab())[:2] == ["<EOS>", "<MASK>"]


def test_add_tokenizer_from_a_fusemedml_config(sources: list[dict[str, Any]], tmp_path: Path) -> None:
    assert main(["create", f"--tokenizer=AA={sources[0]['json_path']}", "--out", str(tmp_path / "v1")]) == 0
    before = ModularTokenizer.load(tmp_path / "v1").decoder_dict
    config = _fusemedml_config(
        tmp_path / "config_add.yaml",
        {
            "in_path": str(tmp_path / "v1"),
            "out_path": str(tmp_path / "v2"),
            "tokenizer_to_add": "GENES",
            "max_possible_token_id": 500,
            "tokenizers_info": [{**sources[2], "minimal_token_id": 100}],
        },
    )
    assert main(["add-tokenizer", "--config", str(config)]) == 0
    tok = ModularTokenizer.load(tmp_path / "v2")
    assert all(tok.decoder_dict[i] == e for i, e in before.items())
    assert [tok.token_to_id(g, "GENES") for g in GENES] == list(range(100, 105))
    assert tok.decode(tok.encode_list([TypedInput("AA", "ACD"), TypedInput("GENES", "KRAS")]).ids) == "ACDKRAS"


def test_add_tokenizer_from_flags_in_place(sources: list[dict[str, Any]], tmp_path: Path) -> None:
    assert main(["create", f"--tokenizer=AA={sources[0]['json_path']}", "--out", str(tmp_path / "v")]) == 0
    with pytest.warns(UserWarning, match=r"'SMILES' brings new special tokens \['<SEP>'\]"):
        assert (
            main(["add-tokenizer", "--in", str(tmp_path / "v"), "--name", "SMILES", "--json", sources[1]["json_path"]])
            == 0
        )
    assert ModularTokenizer.load(tmp_path / "v").get_tokenizer_types() == ["AA", "SMILES"]


def test_add_special_tokens(sources: list[dict[str, Any]], tmp_path: Path) -> None:
    assert main(["create", f"--tokenizer=AA={sources[0]['json_path']}", "--out", str(tmp_path / "v")]) == 0
    assert (
        main(["add-special-tokens", str(tmp_path / "v"), "--added-tokens", "<A>,<B>", "-o", str(tmp_path / "w")]) == 0
    )
    assert ModularTokenizer.load(tmp_path / "w").token_to_id("<B>") is not None
    assert ModularTokenizer.load(tmp_path / "v").token_to_id("<B>") is None


def test_errors_are_one_line_naming_the_problem(sources: list[dict[str, Any]], tmp_path: Path, capsys: Any) -> None:
    config = _fusemedml_config(tmp_path / "c.yaml", {"tokenizers_info": sources, "out_path": "${paths.out}/tokenizer"})
    assert main(["create", "--config", str(config)]) == 1
    assert (
        "data.tokenizer.out_path = '${paths.out}/tokenizer' is a hydra/OmegaConf interpolation"
        in capsys.readouterr().err
    )
    assert main(["create", "--tokenizer=AA=/nowhere/aa.json", "--out", str(tmp_path / "x")]) == 1
    assert "/nowhere/aa.json: the json_path of sub-tokenizer 'AA' does not exist" in capsys.readouterr().err
    assert main(["add-special-tokens", str(tmp_path), "--added-tokens", "<A>"]) == 1
    assert "no config.yaml" in capsys.readouterr().err
