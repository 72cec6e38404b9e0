"""FuseMedML's on-disk layout of a modular tokenizer: a folder with ``config.yaml`` and one JSON per sub-tokenizer.

``config.yaml`` holds ``tokenizers_info`` (one entry per sub-tokenizer: ``name``, ``tokenizer_id``, ``json_path``,
``modular_json_path``, optional ``max_len``...; the paths are ``./<file>.json``, relative to the folder),
``max_possible_token_id`` and ``max_special_token_id``. Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CONFIG_NAME = "config.yaml"


def tokenizer_folder(path: str | os.PathLike[str]) -> Path:
    """The folder of a saved modular tokenizer, given it or a file inside it (``config.yaml``, a JSON).

    >>> tokenizer_folder("saved/config.yaml").as_posix()
    'saved'
    """
    path = Path(path)
    return path.parent if path.suffix in (".yaml", ".json") or path.is_file() else path


def read_config(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int | None, int | None]:
    """``(tokenizers_info, max_possible_token_id, max_special_token_id)`` of a saved folder; each JSON path of
    ``tokenizers_info`` points into the folder (where :func:`write_config` put it, wherever the folder now is)."""
    import yaml

    folder = tokenizer_folder(path)
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(
            f"{config_path}: no {CONFIG_NAME}; give the folder that ModularTokenizer.save wrote (it holds "
            f"{CONFIG_NAME} and one JSON per sub-tokenizer)"
        )
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{config_path}: not valid YAML ({error}); restore it from the saved tokenizer") from error
    if not isinstance(config, dict) or not isinstance(config.get("tokenizers_info"), list):
        raise ValueError(f"{config_path}: expected a mapping with a 'tokenizers_info' list of sub-tokenizers")  # noqa: TRY004 - a file's content, not an argument
    infos: list[dict[str, Any]] = []
    for index, entry in enumerate(config["tokenizers_info"]):
        if not isinstance(entry, dict) or "name" not in entry or not entry.get("modular_json_path"):
            raise ValueError(
                f"{config_path}: tokenizers_info[{index}] needs a 'name' and a 'modular_json_path', got {entry!r}"
            )
        info = dict(entry)
        for key in ("json_path", "modular_json_path"):
            if info.get(key) is not None:
                # saved folders travel between machines: only the file name is meaningful
                info[key] = str(folder / Path(str(info[key])).name)
        infos.append(info)
    return (
        infos,
        _optional_int(config, "max_possible_token_id", config_path),
        _optional_int(config, "max_special_token_id", config_path),
    )


def _optional_int(config: dict[str, Any], key: str, where: Path) -> int | None:
    value = config.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{where}: {key} must be an integer or null, got {value!r}")
    return value


def read_tokenizer_json(path: str | os.PathLike[str], name: str, key: str) -> dict[str, Any]:
    """The parsed tokenizer JSON of sub-tokenizer ``name`` (``key`` names the config field that points to it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the {key} of sub-tokenizer {name!r} does not exist; fix that path in tokenizers_info (or copy "
            "the file there)"
        )
    try:
        t_json = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: the {key} of sub-tokenizer {name!r} is not valid JSON ({error})") from error
    if not isinstance(t_json, dict) or not isinstance(t_json.get("model"), dict):
        raise ValueError(f"{path}: the {key} of sub-tokenizer {name!r} is not a Hugging Face tokenizer JSON")  # noqa: TRY004 - a file's content, not an argument
    return t_json


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, so a crash leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_config(
    folder: Path,
    tokenizers_info: list[dict[str, Any]],
    max_possible_token_id: int | None,
    max_special_token_id: int | None,
) -> None:
    """Write ``config.yaml`` (written last by a save, so a folder with a config has all its JSONs)."""
    import yaml

    config = {
        "tokenizers_info": tokenizers_info,
        "max_possible_token_id": max_possible_token_id,
        "max_special_token_id": max_special_token_id,
    }
    write_atomic(folder / CONFIG_NAME, yaml.safe_dump(config, sort_keys=False))


def saved_json_names(tokenizers_info: list[dict[str, Any]]) -> dict[str, str]:
    """``{name: file name}`` for saving: the source JSON's file name, prefixed by the sub-tokenizer name where two
    sub-tokenizers' files share a name (so one does not overwrite the other).

    >>> saved_json_names([{"name": "AA", "json_path": "a/t.json"}, {"name": "SMILES", "json_path": "b/t.json"}])
    {'AA': 'AA_t.json', 'SMILES': 'SMILES_t.json'}
    """
    names = {}
    for info in tokenizers_info:
        source = info.get("json_path") or info.get("modular_json_path")
        if not source:
            raise ValueError(
                f"sub-tokenizer {info['name']!r} has neither json_path nor modular_json_path to save under"
            )
        names[info["name"]] = Path(str(source)).name
    counts: dict[str, int] = {}
    for file_name in names.values():
        counts[file_name] = counts.get(file_name, 0) + 1
    out = {name: (f"{name}_{file_name}" if counts[file_name] > 1 else file_name) for name, file_name in names.items()}
    if len(set(out.values())) != len(out):
        raise ValueError(f"sub-tokenizers would be saved to the same file: {out}; rename the source JSONs")
    return out
