"""Local weights for the backbones: read a state dict file and load it with an error that lists what did not match.

Nothing is ever downloaded. Weights come from a file written by ``torch.save(model.state_dict(), path)`` (read back
with ``torch.load(path, map_location="cpu", weights_only=True)``, so a pickled module is refused) or from a state
dict already in memory. Unlike ``load_state_dict(strict=False)``, which FuseMedML used and which silently skips
keys that do not match, :func:`load_state_dict_checked` raises a ``ValueError`` naming the missing keys, the
unexpected keys and the shape mismatches.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from typing import TypeAlias

import torch
from torch import nn

__all__ = [
    "WeightsSource",
    "adapt_first_conv",
    "download_refused",
    "init_like_torchvision",
    "init_resnet_weights",
    "load_pretrained",
    "load_state_dict_checked",
    "read_state_dict",
]

WeightsSource: TypeAlias = str | os.PathLike[str] | Mapping[str, torch.Tensor]
"""A path to a ``torch.save``-d state dict, or a state dict (``{parameter or buffer name: tensor}``)."""

_SHOWN = 8  # how many keys an error message lists before "... (N in all)"


def _listing(keys: list[str]) -> str:
    shown = ", ".join(repr(key) for key in keys[:_SHOWN])
    more = f", ... ({len(keys)} in all)" if len(keys) > _SHOWN else ""
    return f"[{shown}{more}]"


def read_state_dict(weights: WeightsSource, *, what: str = "weights") -> dict[str, torch.Tensor]:
    """Return the state dict that ``weights`` names: a local file (loaded on the CPU, tensors only) or a mapping.

    :param weights: a path to a file written by ``torch.save(model.state_dict(), path)``, or a state dict.
    :param what: names the caller in error messages (e.g. ``"BackboneResnet(name='resnet18')"``).
    :raises FileNotFoundError: the path is not a file.
    :raises ValueError: the file is not a plain state dict (a pickled module, say), or an entry is not a tensor.
    :raises TypeError: ``weights`` is neither a path nor a mapping, or the file holds no mapping.

    >>> import torch
    >>> read_state_dict({"weight": torch.ones(2)})
    {'weight': tensor([1., 1.])}
    """
    if isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{what}: weights file {path!r} not found; pass the path of a local file written by "
                "torch.save(model.state_dict(), path) (nothing is downloaded)"
            )
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            detail = (str(error).split("WeightsUnpickler error:")[-1].strip().splitlines() or [""])[0]
            raise ValueError(
                f"{what}: {path!r} is not a plain state dict (torch.load(weights_only=True) refused it: {detail}); "
                "save the weights with torch.save(model.state_dict(), path), not the pickled module"
            ) from error
        source = f"the file {path!r}"
    elif isinstance(weights, Mapping):
        loaded = weights
        source = "the given mapping"
    else:
        raise TypeError(
            f"{what}: weights must be a local file path or a state dict mapping, got {type(weights).__name__}"
        )
    if not isinstance(loaded, Mapping):
        raise TypeError(f"{what}: {source} holds a {type(loaded).__name__}, not a state dict mapping")
    if "state_dict" in loaded and isinstance(loaded["state_dict"], Mapping):
        raise ValueError(
            f"{what}: {source} looks like a Lightning checkpoint; pass its 'state_dict' entry restricted to the "
            "backbone's keys, with the prefix of the backbone's attribute name removed"
        )
    bad = [str(key) for key, value in loaded.items() if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise ValueError(f"{what}: {source} is not a state dict of tensors; these entries are not: {_listing(bad)}")
    return dict(loaded)


def adapt_first_conv(
    state_dict: dict[str, torch.Tensor],
    module: nn.Module,
    *,
    weight_key: str,
    replace_prefix: str,
    in_channels: int,
    sum_for_one_channel: bool,
    what: str = "weights",
) -> dict[str, torch.Tensor]:
    """Fit the first convolution of RGB weights to a network built for ``in_channels`` input channels.

    Weights whose ``weight_key`` tensor already has ``in_channels`` input channels are returned unchanged. RGB (3
    channel) weights loaded into a 1-channel network are summed over the channels when ``sum_for_one_channel`` (the
    response to a grey image equals the RGB network's response to that image repeated on 3 channels); otherwise every
    entry under ``replace_prefix`` is replaced by the module's own, freshly initialised, values (FuseMedML: a new
    first layer).

    :param state_dict: the weights; not modified (a new dict is returned).
    :param module: the network (already built for ``in_channels``) the weights are for.
    :param weight_key: the first convolution's weight, e.g. ``"conv1.weight"``.
    :param replace_prefix: what is replaced when the convolution is not kept, e.g. ``"conv1."``.
    :raises ValueError: the weights' first convolution has neither ``in_channels`` nor 3 input channels.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, bias=False))
    >>> rgb = {"0.weight": torch.ones(2, 3, 3, 3)}
    >>> adapt_first_conv(rgb, net, weight_key="0.weight", replace_prefix="0.", in_channels=1,
    ...                  sum_for_one_channel=True)["0.weight"].shape
    torch.Size([2, 1, 3, 3])
    """
    weight = state_dict.get(weight_key)
    if weight is None or weight.ndim < 2 or weight.shape[1] == in_channels:
        return dict(state_dict)  # nothing to adapt; a missing key is reported by load_state_dict_checked
    if weight.shape[1] != 3:
        raise ValueError(
            f"{what}: the weights' first convolution {weight_key!r} takes {weight.shape[1]} input channels, the "
            f"network {in_channels}; only RGB (3-channel) weights are adapted to another number of channels"
        )
    adapted = dict(state_dict)
    if in_channels == 1 and sum_for_one_channel:
        adapted[weight_key] = weight.sum(dim=1, keepdim=True)
        return adapted
    for key in [key for key in adapted if key.startswith(replace_prefix)]:
        del adapted[key]
    for key, value in module.state_dict().items():
        if key.startswith(replace_prefix):
            adapted[key] = value.detach().clone()
    return adapted


def load_state_dict_checked(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    what: str = "weights",
    ignore_unexpected: Callable[[str], bool] | None = None,
) -> None:
    """Load ``state_dict`` into ``module``, raising a ``ValueError`` that lists every key that does not match.

    BatchNorm ``num_batches_tracked`` counters may be missing (old checkpoints lack them); keys for which
    ``ignore_unexpected(key)`` is true are skipped (e.g. a classifier the backbone does not have).

    :raises ValueError: keys are missing, unexpected or of another shape.

    >>> import torch
    >>> net = torch.nn.Linear(2, 1)
    >>> load_state_dict_checked(net, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)})
    >>> net.weight.tolist()
    [[1.0, 1.0]]
    >>> load_state_dict_checked(net, {"weight": torch.ones(1, 2)}, what="Linear")
    Traceback (most recent call last):
    ValueError: Linear: the weights do not match the network: missing keys ['bias']
    """
    expected = module.state_dict()
    missing = [key for key in expected if key not in state_dict and not key.endswith("num_batches_tracked")]
    unexpected = [
        key
        for key in state_dict
        if key not in expected and not (ignore_unexpected is not None and ignore_unexpected(key))
    ]
    mismatched = [
        f"{key!r}: weights {tuple(value.shape)}, network {tuple(expected[key].shape)}"
        for key, value in state_dict.items()
        if key in expected and value.shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listing(unexpected)}")
    if mismatched:
        problems.append(
            f"shape mismatches [{'; '.join(mismatched[:_SHOWN])}{' ...' if len(mismatched) > _SHOWN else ''}]"
        )
    if problems:
        raise ValueError(f"{what}: the weights do not match the network: {'; '.join(problems)}")
    module.load_state_dict({key: value for key, value in state_dict.items() if key in expected}, strict=False)


def load_pretrained(
    module: nn.Module,
    weights: WeightsSource,
    *,
    weight_key: str,
    replace_prefix: str,
    in_channels: int,
    sum_for_one_channel: bool,
    ignore_unexpected: Callable[[str], bool],
    what: str = "weights",
) -> None:
    """Read ``weights`` (:func:`read_state_dict`), fit its first convolution to ``in_channels``
    (:func:`adapt_first_conv`, which ``weight_key`` and ``replace_prefix`` are for) and load it into ``module``
    (:func:`load_state_dict_checked`, skipping the unexpected keys ``ignore_unexpected`` accepts).

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1, bias=False))
    >>> load_pretrained(net, {"0.weight": torch.ones(2, 3, 1, 1)}, weight_key="0.weight", replace_prefix="0.",
    ...                 in_channels=1, sum_for_one_channel=True, ignore_unexpected=lambda key: False)
    >>> net[0].weight.flatten().tolist()
    [3.0, 3.0]
    """
    state_dict = adapt_first_conv(
        read_state_dict(weights, what=what),
        module,
        weight_key=weight_key,
        replace_prefix=replace_prefix,
        in_channels=in_channels,
        sum_for_one_channel=sum_for_one_channel,
        what=what,
    )
    load_state_dict_checked(module, state_dict, what=what, ignore_unexpected=ignore_unexpected)


def init_resnet_weights(
    module: nn.Module,
    weights: WeightsSource | None,
    *,
    weight_key: str,
    replace_prefix: str,
    in_channels: int,
    what: str,
) -> None:
    """The parameters of a torchvision-layout ResNet (2-D or 3-D): torchvision's initialisation
    (:func:`init_like_torchvision`), then, when ``weights`` is given, that checkpoint loaded over it
    (:func:`load_pretrained`): its classifier (``fc.*``) is skipped, its first convolution ``weight_key`` fitted to
    ``in_channels`` (summed over the RGB channels for one).

    >>> import torch
    >>> net = torch.nn.Sequential()
    >>> net.add_module("conv1", torch.nn.Conv2d(1, 2, 1, bias=False))
    >>> checkpoint = {"conv1.weight": torch.ones(2, 3, 1, 1), "fc.weight": torch.ones(5, 2)}
    >>> init_resnet_weights(net, checkpoint, weight_key="conv1.weight", replace_prefix="conv1.", in_channels=1,
    ...                     what="example")
    >>> net.conv1.weight.flatten().tolist()
    [3.0, 3.0]
    """
    init_like_torchvision(module)
    if weights is None:
        return
    load_pretrained(
        module,
        weights,
        weight_key=weight_key,
        replace_prefix=replace_prefix,
        in_channels=in_channels,
        sum_for_one_channel=True,
        ignore_unexpected=lambda key: key.startswith("fc."),
        what=what,
    )


def download_refused(what: str, argument: str, file: str) -> ValueError:
    """The error a backbone raises for an argument that would download weights (``argument``, as the user wrote
    it): fuse never downloads; the message says to fetch ``file`` and pass it as ``weights=``.

    >>> error = download_refused("Net", "pretrained=True", "the file")
    >>> for part in str(error).split("; "):
    ...     print(part)
    Net: pretrained=True would download weights, which fuse never does
    download the file yourself and pass weights=<local path or state dict>
    """
    return ValueError(
        f"{what}: {argument} would download weights, which fuse never does; download {file} yourself and pass "
        "weights=<local path or state dict>"
    )


def init_like_torchvision(module: nn.Module) -> None:
    """torchvision's ResNet initialisation: Kaiming-normal (fan-out, ReLU) convolutions, batch norms at 1 and 0.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv3d(1, 2, 3), torch.nn.BatchNorm3d(2))
    >>> init_like_torchvision(net)
    >>> net[1].weight.tolist(), net[1].bias.tolist()
    ([1.0, 1.0], [0.0, 0.0])
    """
    for child in module.modules():
        if isinstance(child, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(child.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(child, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.constant_(child.weight, 1)
            nn.init.constant_(child.bias, 0)
