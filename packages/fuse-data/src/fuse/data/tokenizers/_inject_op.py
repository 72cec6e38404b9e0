"""``ModularTokenizerOp``: the modular tokenizer op that also places scalars and external embeddings into the
token sequence (:class:`~fuse.data.InjectorToModularTokenizerLib`), and reads or writes a tokenizer folder locally or
on the Hugging Face Hub (``from_pretrained``, ``save_pretrained``, ``push_to_hub``; ``huggingface_hub`` is imported on
use only).
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fuse.core import NDict
from fuse.data._sample_keys import sample_id_of, sample_value
from fuse.data.tokenizers._injector import InjectorToModularTokenizerLib
from fuse.data.tokenizers._op import ModularTokenizerWithoutInjectOp

__all__ = ["ModularTokenizerOp"]

_HUB_FOLDER = "tokenizer"  # where push_to_hub puts the tokenizer in a Hub repository (FuseMedML's layout)


class ModularTokenizerOp(ModularTokenizerWithoutInjectOp):
    """:class:`ModularTokenizerWithoutInjectOp` that also places scalars and external embeddings into the sequence.

    Besides the sub-tokenizers' tags, a query may hold ``<@TOKENIZER-TYPE=SCALARS_LITERALS>0.3,1.2``,
    ``<@TOKENIZER-TYPE=SCALARS_FROM_DICT>data.key`` and
    ``<@TOKENIZER-TYPE=EXTERNAL_EMBEDDINGS_FROM_DICT>MODEL:data.key[:LENGTH]`` parts (see
    :class:`~fuse.data.InjectorToModularTokenizerLib`). They are encoded as ``<SCALAR>`` / ``<EMBEDDINGS>`` tokens of
    the first sub-tokenizer, which must have them as special tokens; ``key_out_scalars`` and
    ``key_out_external_embeddings_info`` say what the model writes there.
    """

    def __init__(
        self,
        tokenizer_path: str | os.PathLike[str],
        max_size: int | None = None,
        pad_token: str = "<PAD>",
        pad_type_id: int | None = None,
        validate_ends_with_eos: bool = True,
        eos: str = "<EOS>",
        verbose: bool = False,
        on_unknown_default_value: str = "warn",
    ) -> None:
        super().__init__(
            tokenizer_path=tokenizer_path,
            max_size=max_size,
            pad_token=pad_token,
            pad_type_id=pad_type_id,
            validate_ends_with_eos=validate_ends_with_eos,
            eos=eos,
            verbose=verbose,
            on_unknown_default_value=on_unknown_default_value,
        )
        # the placeholders are encoded by the first sub-tokenizer (FuseMedML's choice: saved queries rely on it)
        self.default_sub_tokenizer_name: str = next(iter(self._tokenizer.tokenizers_info.values()))["name"]

    def __call__(  # type: ignore[override]  # FuseMedML's signature: key_out_encoding_per_meta is replaced
        self,
        sample_dict: NDict,
        key_in: str,
        key_out_tokenized_object: str | None = None,
        key_out_tokens_ids: str | None = None,
        key_out_attention_mask: str | None = None,
        convert_attention_mask_to_bool: bool = True,
        max_seq_len: int | None = None,
        on_unknown: str | None = None,
        verbose: int = 1,
        validate_ends_with_eos: bool | None = None,
        key_out_scalars: str | None = None,
        key_out_external_embeddings_info: str | None = None,
        additional_caller_info_text: str = "",
        crop_report: str | None = "warn",
    ) -> NDict:
        """Tokenize ``sample_dict[key_in]`` as :meth:`ModularTokenizerWithoutInjectOp.__call__` does, and:

        Args:
            key_out_scalars: write ``<key>.values`` (float32 tensor, one value per token, -1000.0 where the
                token is not a scalar) and ``<key>.valid_mask`` (bool tensor, True on scalars).
            key_out_external_embeddings_info: write ``{model name: [EmbeddingInfo(location, embedding_input,
                length), ...]}``.
            crop_report: ``"warn"``, ``"raise"`` or ``None`` when truncation cuts scalars or embeddings off.
        """
        query = sample_value(sample_dict, key_in, self)
        where = f"{type(self).__name__}: sample {sample_id_of(sample_dict)!r}, key {key_in!r}"
        try:
            with_placeholders, parts = InjectorToModularTokenizerLib.build_placeholder_meta_tokenization(
                sequence=query, sample_dict=sample_dict, default_sub_tokenizer_name=self.default_sub_tokenizer_name
            )
        except TypeError as error:
            raise TypeError(f"{where}: {error}") from None
        encoded, per_part = self._encode(
            sample_dict,
            key_in,
            with_placeholders,
            max_seq_len=max_seq_len,
            on_unknown=on_unknown,
            verbose=verbose,
            validate_ends_with_eos=validate_ends_with_eos,
            additional_caller_info_text=additional_caller_info_text,
            key_out_encoding_per_meta=None,
        )
        injected = InjectorToModularTokenizerLib.build_scalars_and_embeddings(
            per_meta_tokenizer_data=parts,
            per_meta_encoding_including_placeholders=per_part,
            token_ids=encoded.ids,
            sample_dict=sample_dict,
            crop_report=crop_report,
        )
        self._write(
            sample_dict,
            encoded,
            key_out_tokenized_object,
            key_out_tokens_ids,
            key_out_attention_mask,
            convert_attention_mask_to_bool,
        )
        if key_out_scalars is not None:
            sample_dict[f"{key_out_scalars}.values"] = injected["scalars_values"]
            sample_dict[f"{key_out_scalars}.valid_mask"] = injected["scalars_valid_mask"]
        if key_out_external_embeddings_info is not None:
            sample_dict[key_out_external_embeddings_info] = injected["external_embeddings_info"]
        return sample_dict

    # -------------------------------------------------------------------------------------------- saving, sharing
    @classmethod
    def from_pretrained(
        cls,
        identifier: str | os.PathLike[str],
        pad_token: str = "<PAD>",
        max_size: int | None = None,
        on_unknown_default_value: str = "warn",
        force_download: bool = False,
        resume_download: bool | None = None,
        proxies: Mapping[str, str] | None = None,
        token: str | bool | None = None,
        cache_dir: str | Path | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        **op_kwargs: Any,
    ) -> ModularTokenizerOp:
        """The op of a saved tokenizer: a local folder (the one :meth:`save_pretrained` wrote, or a folder
        holding it as ``tokenizer/``), else a Hugging Face Hub repository id (its ``tokenizer/`` folder, downloaded
        with ``huggingface_hub.snapshot_download``; the download arguments are that function's). ``op_kwargs`` go to
        the constructor (``eos``, ``validate_ends_with_eos``, ...)."""
        local = Path(identifier).expanduser()
        if local.is_dir():
            folder = local / _HUB_FOLDER if (local / _HUB_FOLDER).is_dir() and not _is_saved(local) else local
        else:
            folder = _download(
                str(identifier),
                force_download=force_download,
                resume_download=resume_download,
                proxies=proxies,
                token=token,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                revision=revision,
            )
        return cls(
            tokenizer_path=folder,
            pad_token=pad_token,
            max_size=max_size,
            on_unknown_default_value=on_unknown_default_value,
            **op_kwargs,
        )

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> None:
        """Save the tokenizer to ``save_directory`` (readable by :meth:`from_pretrained` and FuseMedML)."""
        self._tokenizer.save(str(save_directory))

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str = "Push model using huggingface_hub.",
        private: bool = False,
        token: str | None = None,
        branch: str | None = None,
        create_pr: bool | None = None,
        allow_patterns: list[str] | str | None = None,
        ignore_patterns: list[str] | str | None = None,
        delete_patterns: list[str] | str | None = None,
    ) -> Any:
        """Upload the tokenizer to the Hub repository ``repo_id`` (created if needed) as ``tokenizer/``, in one
        commit; returns ``huggingface_hub``'s commit info."""
        hub = _hub()
        api = hub.HfApi(token=token)
        repo_id = api.create_repo(repo_id=repo_id, private=private, exist_ok=True).repo_id
        with tempfile.TemporaryDirectory() as staging:
            self.save_pretrained(Path(staging) / _HUB_FOLDER)
            return api.upload_folder(
                repo_id=repo_id,
                repo_type="model",
                folder_path=staging,
                commit_message=commit_message,
                revision=branch,
                create_pr=create_pr,
                allow_patterns=allow_patterns,
                ignore_patterns=ignore_patterns,
                delete_patterns=delete_patterns,
            )


def _is_saved(folder: Path) -> bool:
    from fuse.data.tokenizers._format import CONFIG_NAME

    return (folder / CONFIG_NAME).is_file()


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:  # an optional library: not one of fuse-data's dependencies
        raise ModuleNotFoundError(
            "loading from or pushing to the Hugging Face Hub needs huggingface_hub: pip install huggingface_hub",
            name="huggingface_hub",
        ) from None
    return huggingface_hub


def _download(repo_id: str, **options: Any) -> Path:
    """The ``tokenizer/`` folder of a Hub repository, downloaded (or found in the local Hub cache)."""
    hub = _hub()
    accepted = inspect.signature(hub.snapshot_download).parameters
    for legacy in ("resume_download", "proxies"):  # removed from recent huggingface_hub releases
        value = options.pop(legacy)
        if value is not None and legacy in accepted:
            options[legacy] = value
        elif value is not None and legacy == "proxies":
            raise TypeError("this huggingface_hub takes no proxies= argument: set the HTTPS_PROXY variable instead")
        # resume_download: recent releases always resume
    try:
        snapshot = hub.snapshot_download(repo_id=repo_id, allow_patterns=f"{_HUB_FOLDER}/*", **options)
    except Exception as error:
        raise OSError(
            f"{repo_id!r} is not a local folder, and downloading it from the Hugging Face Hub failed ({error}); "
            "check the path, or the repository id and your access to it"
        ) from error
    folder = Path(snapshot) / _HUB_FOLDER
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the Hub repository {repo_id!r} has no {_HUB_FOLDER}/ folder; push_to_hub writes the tokenizer there"
        )
    return folder
