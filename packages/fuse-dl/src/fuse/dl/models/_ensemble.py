"""``ModelEnsemble``: run several trained models on the same batch; keep each one's outputs, their average and
their majority vote.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fuse.core import NDict
from fuse.dl._batch_keys import batch_value
from fuse.dl._model_io import load_model

__all__ = ["ModelEnsemble"]

_OUTPUT_PREFIX = "model.output."


class ModelEnsemble(nn.Module):
    """An ensemble of models loaded with :func:`load_model`, one per trained model directory.

    ``forward(batch_dict)`` runs every model on a shallow copy of the batch dict (the models do not see each
    other's outputs) and writes, with FuseMedML's key names:

    - ``model.output.ensemble_output_<i>.<name>`` for every key ``model.output.<name>`` of model ``i``'s result;
    - ``<key>_ensemble_average``: the mean over the models of ``key``, for each key of ``output_keys``;
    - ``<key>_ensemble_majority_vote``: for ``key`` values with a class dim (``[B, C, ...]``), the class
      (argmax over dim 1) chosen by most models, per sample (and location), as int64 ``[B, ...]``; ties go to
      the smallest class index. Values without a class dim (``[B]``) get no vote.

    For example a classification head ``cls`` gives ``model.output.cls_ensemble_average`` (averaged
    probabilities) and ``model.output.cls_ensemble_majority_vote``.

    :param input_model_dirs: directories written by :func:`save_model`, one per model.
    :param builder: passed to :func:`load_model` (needed when the models were saved without one).
    :param builder_kwargs: keyword arguments for :func:`load_model`'s builder.
    :param output_keys: batch dict keys to average and vote on; default: every floating-point tensor under
        ``model.output`` in the first model's result, except keys containing ``"loss"``.
    :param trusted: passed to :func:`load_model`: the directories are yours, so any builder they name is imported
        and called; without it only fuse's own builders are (see :func:`load_model`).

    >>> import tempfile, torch
    >>> from fuse.dl import ModelWrapSeqToDict, save_model
    >>> def build():
    ...     return ModelWrapSeqToDict(model=torch.nn.Linear(4, 3), model_inputs=["data.x"],
    ...                               model_outputs=["model.output.cls"],
    ...                               post_forward_processing_function=lambda logits: logits.softmax(dim=1))
    >>> model_dirs = [tempfile.mkdtemp() for _ in range(3)]
    >>> for model_dir in model_dirs:
    ...     save_model(model_dir, build())
    >>> ensemble = ModelEnsemble(model_dirs, builder=build)
    >>> batch = ensemble(NDict({"data.x": torch.randn(5, 4)}))
    >>> batch["model.output.ensemble_output_2.cls"].shape, batch["model.output.cls_ensemble_average"].shape
    (torch.Size([5, 3]), torch.Size([5, 3]))
    >>> batch["model.output.cls_ensemble_majority_vote"].shape
    torch.Size([5])
    """

    def __init__(
        self,
        input_model_dirs: Sequence[str | os.PathLike[str]],
        builder: Callable[..., nn.Module] | None = None,
        builder_kwargs: Mapping[str, Any] | None = None,
        output_keys: Sequence[str] | None = None,
        trusted: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(input_model_dirs, (str, os.PathLike)) or not isinstance(input_model_dirs, Sequence):
            raise TypeError(
                f"ModelEnsemble: input_model_dirs must be a sequence of model directories, got {input_model_dirs!r}"
            )
        if not input_model_dirs:
            raise ValueError("ModelEnsemble: input_model_dirs is empty; give one directory per model")
        if isinstance(output_keys, str):
            raise TypeError(f"ModelEnsemble: output_keys must be a sequence of keys, write [{output_keys!r}]")
        self.input_model_dirs = [os.fspath(model_dir) for model_dir in input_model_dirs]
        self.output_keys = list(output_keys) if output_keys is not None else None
        self.nets = nn.ModuleList(
            load_model(model_dir, builder, trusted=trusted, **(builder_kwargs or {}))
            for model_dir in self.input_model_dirs
        )

    def forward(self, batch_dict: NDict) -> NDict:
        """Run every model and write the per-model outputs, the averages and the majority votes."""
        before = dict(batch_dict.items())
        results = [net(copy.copy(batch_dict)) for net in self.nets]
        # what each model wrote under model.output (values already in the input batch are not its outputs)
        outputs = [
            {
                key: value
                for key, value in result.items()
                if key.startswith(_OUTPUT_PREFIX) and not (key in before and before[key] is value)
            }
            for result in results
        ]
        for index, output in enumerate(outputs):
            for key, value in output.items():
                batch_dict[f"{_OUTPUT_PREFIX}ensemble_output_{index}.{key[len(_OUTPUT_PREFIX) :]}"] = value
        keys = self.output_keys
        if keys is None:
            keys = [
                key
                for key, value in outputs[0].items()
                if "loss" not in key and isinstance(value, torch.Tensor) and value.is_floating_point()
            ]
        for key in keys:
            values = []
            for index, result in enumerate(results):
                value = batch_value(result, key, f"ModelEnsemble (model {index}, {self.input_model_dirs[index]})")
                if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                    raise TypeError(
                        f"ModelEnsemble: output key {key!r} of model {index} must be a floating-point tensor to be "
                        f"averaged, got {getattr(value, 'dtype', type(value).__name__)}; leave it out of output_keys"
                    )
                values.append(value)
            if len({tuple(value.shape) for value in values}) > 1:
                raise ValueError(
                    f"ModelEnsemble: the models' values of {key!r} have different shapes "
                    f"{[tuple(value.shape) for value in values]}; they cannot be averaged"
                )
            stacked = torch.stack(values)  # [models, B, ...]
            batch_dict[f"{key}_ensemble_average"] = stacked.mean(dim=0)
            if stacked.ndim >= 3:
                labels = stacked.argmax(dim=2)  # [models, B, ...]
                votes = F.one_hot(labels, num_classes=stacked.shape[2]).sum(dim=0)  # [B, ..., C]
                batch_dict[f"{key}_ensemble_majority_vote"] = votes.argmax(dim=-1)  # first maximum: smallest class
        return batch_dict
