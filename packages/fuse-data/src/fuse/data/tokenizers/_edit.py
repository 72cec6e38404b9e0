"""Growing a modular tokenizer without moving any existing id: new shared special tokens, a new sub-tokenizer."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fuse.data.tokenizers import _format, _vocab

if TYPE_CHECKING:
    from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer


def add_special_tokens(tokenizer: ModularTokenizer, tokens: Iterable[str]) -> int:
    """Add shared special tokens on new ids (after the last special id when ``max_special_token_id`` is set, else
    after the last id); existing ids never move. Returns how many were new."""
    if isinstance(tokens, str):
        raise TypeError(f"add_special_tokens takes a list of tokens, got the string {tokens!r}: write [{tokens!r}]")
    special_vocab = tokenizer.get_added_vocab()
    new = set(tokens) - set(special_vocab)
    existing = {entry["token"] for entry in tokenizer.decoder_dict.values()}
    regular = sorted(new & existing)
    if regular:
        raise ValueError(
            f"{regular} are regular tokens of a sub-tokenizer; making them special would move their ids (and break "
            "models trained with this tokenizer): choose other names for the special tokens"
        )
    ordered = sorted(new)  # FuseMedML's order: the same tokens get the same ids, whatever order they are given in
    if not ordered:
        return 0
    if tokenizer._max_special_token_id is not None:
        next_id = max(special_vocab.values(), default=-1) + 1
        _check_room(next_id, tokenizer._max_special_token_id, len(ordered), "max_special_token_id")
    else:
        next_id = tokenizer._get_max_mapped_id() + 1
        if tokenizer._max_possible_token_id is not None:
            _check_room(next_id, tokenizer._max_possible_token_id, len(ordered), "max_possible_token_id")
    structs = _vocab.build_special_token_list(ordered, starting_index=next_id)
    for info in tokenizer.tokenizers_info.values():
        t_json = info["json_instance"]
        t_json["added_tokens"] = list(t_json.get("added_tokens") or []) + copy.deepcopy(structs)
        vocab = {**t_json["model"]["vocab"], **{t["content"]: t["id"] for t in structs}}
        t_json["model"]["vocab"] = dict(sorted(vocab.items(), key=lambda item: item[1]))
        tokenizer._instantiate(info)
    tokenizer.build_inner_decoder()
    return len(ordered)


def _check_room(next_id: int, max_id: int, count: int, name: str) -> None:
    if next_id + count - 1 > max_id:
        raise ValueError(
            f"no room for {count} new special tokens: ids {next_id}..{next_id + count - 1} would pass {name}={max_id}; "
            f"raise {name} (and the model's embedding size) or add fewer tokens"
        )


def add_single_tokenizer(tokenizer: ModularTokenizer, tokenizer_info: Mapping[str, Any]) -> None:
    """Add the sub-tokenizer of ``tokenizer_info`` (``name``, ``json_path``, ...): its regular tokens go on ids after
    the last one in use (or from its ``minimal_token_id``), and its special tokens become shared special tokens."""
    info = {k: v for k, v in tokenizer_info.items() if k not in ("json_instance", "tokenizer_inst")}
    name = info.get("name")
    if name is None or name in tokenizer.tokenizers_info:
        raise ValueError(
            f"the new sub-tokenizer needs a name not yet taken (taken: {tokenizer.get_tokenizer_types()}), got {name!r}"
        )
    if not info.get("json_path"):
        raise ValueError(f"sub-tokenizer {name!r} has no json_path: give the tokenizer.json to add")
    t_json = _format.read_tokenizer_json(info["json_path"], name, "json_path")
    vocab = _vocab.model_vocab(t_json, str(info["json_path"]))
    own_specials = _vocab.added_tokens(t_json)
    new_specials = sorted(set(own_specials) - set(tokenizer.get_added_vocab()))
    regular = {token: token_id for token, token_id in vocab.items() if token not in own_specials}
    # checked before any change, so a tokenizer that cannot take the new one is left as it was
    last_id = tokenizer._get_max_mapped_id()
    if tokenizer._max_special_token_id is None:
        last_id += len(new_specials)
    next_index = max(last_id + 1, int(info.get("minimal_token_id") or 0))
    limit = tokenizer._max_possible_token_id
    if limit is not None and next_index + len(regular) - 1 > limit:
        raise ValueError(
            f"adding sub-tokenizer {name!r} needs ids up to {next_index + len(regular) - 1}, above "
            f"max_possible_token_id={limit}: raise max_possible_token_id (and the model's embedding size)"
        )
    if new_specials:
        # shared first, so the new sub-tokenizer's regular tokens start after them and its template finds them
        warnings.warn(f"sub-tokenizer {name!r} brings new special tokens {new_specials}: added to all", stacklevel=3)
        add_special_tokens(tokenizer, new_specials)
    shared = copy.deepcopy(next(iter(tokenizer.tokenizers_info.values()))["json_instance"]["added_tokens"])
    next_index = max(tokenizer._get_max_mapped_id() + 1, int(info.get("minimal_token_id") or 0))
    t_json["model"]["vocab"], _ = _vocab.remap_vocab(regular, shared, next_index)
    t_json["added_tokens"] = shared
    t_json["post_processor"] = _vocab.remap_post_processor(t_json.get("post_processor"), t_json["model"]["vocab"])
    entry = {**info, "json_instance": t_json}
    tokenizer._instantiate(entry)
    tokenizer.tokenizers_info[name] = entry
    tokenizer.tokenizers_info_raw_cfg.append(copy.deepcopy(info))
    tokenizer.build_inner_decoder()
    tokenizer._check_consistent()
