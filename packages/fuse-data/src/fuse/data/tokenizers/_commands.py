"""``python -m fuse.data.tokenizers create|add-tokenizer|add-special-tokens``: FuseMedML's three tokenizer scripts
(hydra there), reading FuseMedML's YAML configs (``data.tokenizer...``) with PyYAML, or plain flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer

_CONSTRUCTOR_KEYS = ("tokenizers_info", "special_tokens_list", "max_possible_token_id", "max_special_token_id", "seed")


def _tokenizer_section(config_path: Path) -> dict[str, Any]:
    """The ``data.tokenizer`` section of a FuseMedML config (or the whole file when it has no ``data`` key)."""
    import yaml

    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"{config_path}: cannot read the config ({error})") from error
    section = config.get("data", {}).get("tokenizer") if isinstance(config, dict) and "data" in config else config
    if not isinstance(section, dict):
        raise ValueError(f"{config_path}: expected FuseMedML's layout, a mapping under data.tokenizer")  # noqa: TRY004 - a file's content, not an argument
    _refuse_interpolations(section, config_path, "data.tokenizer")
    return section


def _refuse_interpolations(value: Any, where: Path, key: str) -> None:
    if isinstance(value, str) and "${" in value:
        raise ValueError(
            f"{where}: {key} = {value!r} is a hydra/OmegaConf interpolation, which this command does not resolve: "
            "write the value itself"
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_interpolations(v, where, f"{key}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_interpolations(v, where, f"{key}[{i}]")


def _parse_tokenizer_flag(text: str, index: int) -> dict[str, Any]:
    name, sep, json_path = text.partition("=")
    if not sep or not name or not json_path:
        raise ValueError(f"--tokenizer {text!r}: write NAME=PATH/TO/tokenizer.json")
    return {"name": name, "tokenizer_id": index, "json_path": json_path, "modular_json_path": json_path}


def _create(args: argparse.Namespace) -> None:
    from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer

    section = _tokenizer_section(args.config) if args.config else {}
    if args.tokenizer:
        section["tokenizers_info"] = [_parse_tokenizer_flag(t, i) for i, t in enumerate(args.tokenizer)]
    for key in ("special_tokens", "max_possible_token_id", "max_special_token_id"):
        value = getattr(args, key)
        if value is not None:
            section["special_tokens_list" if key == "special_tokens" else key] = value
    out = args.out or section.get("out_path")
    if not section.get("tokenizers_info") or not out:
        raise ValueError("create needs sub-tokenizers (--tokenizer NAME=JSON or tokenizers_info) and --out/out_path")
    ignored = sorted(set(section) - {*_CONSTRUCTOR_KEYS, "out_path", "in_path"})
    if ignored:
        print(f"note: ignoring config keys {ignored}", file=sys.stderr)
    tokenizer = ModularTokenizer(**{k: section[k] for k in _CONSTRUCTOR_KEYS if section.get(k) is not None})
    tokenizer.save(out)
    _report(tokenizer, out)


def _add_tokenizer(args: argparse.Namespace) -> None:
    from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer

    section = _tokenizer_section(args.config) if args.config else {}
    in_path = args.in_path or section.get("in_path")
    name = args.name or section.get("tokenizer_to_add")
    if not in_path or not name:
        raise ValueError("add-tokenizer needs --in/in_path and --name/tokenizer_to_add")
    out = args.out or section.get("out_path") or in_path
    infos = {info["name"]: info for info in section.get("tokenizers_info") or []}
    info = dict(infos.get(name, {"name": name}))
    if args.json:
        info["json_path"] = args.json
        info.setdefault("modular_json_path", args.json)
    for key in ("max_len", "minimal_token_id", "tokenizer_id"):
        if getattr(args, key) is not None:
            info[key] = getattr(args, key)
    if "json_path" not in info:
        raise ValueError(f"no json for sub-tokenizer {name!r}: give --json, or list it in tokenizers_info")
    tokenizer = ModularTokenizer.load(in_path)
    new_max = (
        args.max_possible_token_id if args.max_possible_token_id is not None else section.get("max_possible_token_id")
    )
    current = tokenizer._max_possible_token_id
    if new_max is not None and current is not None and new_max > current:
        print(f"raising max_possible_token_id from {current} to {new_max}", file=sys.stderr)
        tokenizer._max_possible_token_id = new_max
    tokenizer.add_single_tokenizer(info)
    tokenizer.save(out)
    _report(tokenizer, out)


def _add_special_tokens(args: argparse.Namespace) -> None:
    from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer

    tokenizer = ModularTokenizer.load(args.tokenizer_path)
    tokens = [t for t in args.added_tokens.split(",") if t]
    added = tokenizer.add_special_tokens(tokens)
    out = args.output_path or args.tokenizer_path
    tokenizer.save(out)
    print(f"added {added} new special tokens of {len(tokens)}", file=sys.stderr)
    _report(tokenizer, out)


def _report(tokenizer: ModularTokenizer, out: str | Path) -> None:
    print(
        f"wrote {out}: sub-tokenizers {tokenizer.get_tokenizer_types()}, {tokenizer.get_vocab_size()} tokens, "
        f"max id {tokenizer.get_max_id()}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fuse.data.tokenizers",
        description="Build and edit a modular tokenizer folder (FuseMedML's create_multi_tokenizer, "
        "add_tokenizer_to_multi_tokenizer and add_multi_tokenizer_special_tokens scripts).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="merge tokenizer JSONs into a modular tokenizer folder")
    create.add_argument("--config", type=Path, help="FuseMedML's YAML (data.tokenizer: tokenizers_info, out_path...)")
    create.add_argument("--tokenizer", action="append", metavar="NAME=JSON", help="a sub-tokenizer (repeat; in order)")
    create.add_argument("--special-tokens", type=lambda s: [t for t in s.split(",") if t], help="comma-separated")
    create.add_argument("--max-possible-token-id", type=int)
    create.add_argument("--max-special-token-id", type=int)
    create.add_argument("--out", help="the folder to write (overrides out_path)")
    create.set_defaults(run=_create)

    add = commands.add_parser("add-tokenizer", help="add a sub-tokenizer to a saved modular tokenizer")
    add.add_argument("--config", type=Path, help="FuseMedML's YAML (in_path, out_path, tokenizer_to_add, ...)")
    add.add_argument("--in", dest="in_path", help="the saved modular tokenizer folder (overrides in_path)")
    add.add_argument("--out", help="where to write the result (default: in place)")
    add.add_argument("--name", help="the new sub-tokenizer's name (overrides tokenizer_to_add)")
    add.add_argument("--json", help="its tokenizer.json")
    add.add_argument("--max-len", type=int)
    add.add_argument("--minimal-token-id", type=int)
    add.add_argument("--tokenizer-id", type=int)
    add.add_argument("--max-possible-token-id", type=int, help="raise the id cap to this (never lowered)")
    add.set_defaults(run=_add_tokenizer)

    special = commands.add_parser("add-special-tokens", help="add shared special tokens to a saved tokenizer")
    special.add_argument("tokenizer_path", help="the saved modular tokenizer folder")
    special.add_argument("--added-tokens", required=True, help="comma-separated, e.g. '<TASK_A>,<TASK_B>'")
    special.add_argument("--output-path", "-o", help="where to write the result (default: in place)")
    special.set_defaults(run=_add_special_tokens)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; a library error prints one line and returns 1."""
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except ModuleNotFoundError as error:
        if error.name not in ("tokenizers", "yaml"):
            raise
        print(f'error: needs the {error.name!r} library: pip install "fuse-data[tokenizers]"', file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
