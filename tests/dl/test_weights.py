"""The local-weights helpers of fuse/dl/_weights.py: reading a state dict (a file or a mapping, weights_only),
loading it with every problem listed, and fitting a first convolution to another number of input channels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fuse.dl._weights import adapt_first_conv, load_state_dict_checked, read_state_dict
from fuse_dl_nets_support import assert_close


def test_read_state_dict_from_a_file_and_a_mapping(tmp_path: Path) -> None:
    state = {"weight": torch.arange(4.0), "bias": torch.ones(1)}
    path = tmp_path / "w.pt"
    torch.save(state, path)
    for source in (path, str(path), state):
        loaded = read_state_dict(source)
        assert list(loaded) == ["weight", "bias"]
        assert torch.equal(loaded["weight"], state["weight"])


def test_read_state_dict_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"weights file .*missing.pt' not found.*nothing is downloaded"):
        read_state_dict(tmp_path / "missing.pt")
    module_file = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 1), module_file)
    with pytest.raises(ValueError, match=r"not a plain state dict.*Unsupported global.*torch\.save\(model\.state_dict"):
        read_state_dict(module_file, what="BackboneX")
    list_file = tmp_path / "list.pt"
    torch.save([torch.ones(1)], list_file)
    with pytest.raises(TypeError, match="holds a list, not a state dict mapping"):
        read_state_dict(list_file)
    with pytest.raises(ValueError, match="looks like a Lightning checkpoint"):
        read_state_dict({"state_dict": {"model.w": torch.ones(1)}, "epoch": torch.tensor(1)})
    with pytest.raises(ValueError, match=r"these entries are not: \['step'\]"):
        read_state_dict({"w": torch.ones(1), "step": 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="weights must be a local file path or a state dict mapping, got int"):
        read_state_dict(3)  # type: ignore[arg-type]


def test_load_state_dict_checked_lists_every_problem() -> None:
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    good = {key: torch.full_like(value, 2.0) for key, value in net.state_dict().items()}
    del good["1.num_batches_tracked"]  # old checkpoints lack the counter: tolerated
    load_state_dict_checked(net, good)
    assert torch.equal(net[0].weight, torch.full((3, 2), 2.0))
    assert torch.equal(net[1].running_var, torch.full((3,), 2.0))

    bad = dict(good)
    del bad["0.bias"]
    bad["0.weight"] = torch.zeros(4, 2)
    bad["2.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="what") as info:
        load_state_dict_checked(net, bad, what="what")
    message = str(info.value)
    assert "missing keys ['0.bias']" in message
    assert "unexpected keys ['2.weight']" in message
    assert "'0.weight': weights (4, 2), network (3, 2)" in message
    assert torch.equal(net[0].weight, torch.full((3, 2), 2.0))  # nothing was loaded
    del bad["0.weight"]
    bad["0.weight"] = torch.zeros(3, 2)
    bad["0.bias"] = torch.zeros(3)
    load_state_dict_checked(net, bad, ignore_unexpected=lambda key: key.startswith("2."))
    assert torch.equal(net[0].weight, torch.zeros(3, 2))


def test_load_state_dict_checked_shortens_long_lists() -> None:
    net = nn.Sequential(*(nn.Linear(1, 1) for _ in range(6)))
    with pytest.raises(ValueError, match=r"missing keys \['0.weight', .* \(12 in all\)\]"):
        load_state_dict_checked(net, {})


def test_adapt_first_conv() -> None:
    torch.manual_seed(0)
    grey = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    rgb = {"0.weight": torch.randn(2, 3, 3, 3), "0.bias": torch.randn(2), "1.weight": torch.randn(2)}
    summed = adapt_first_conv(
        rgb, grey, weight_key="0.weight", replace_prefix="0.", in_channels=1, sum_for_one_channel=True
    )
    assert_close(summed["0.weight"], rgb["0.weight"][:, 0:1] + rgb["0.weight"][:, 1:2] + rgb["0.weight"][:, 2:3])
    assert summed["1.weight"] is rgb["1.weight"]
    assert rgb["0.weight"].shape == (2, 3, 3, 3)  # the input is not modified

    replaced = adapt_first_conv(
        rgb, grey, weight_key="0.weight", replace_prefix="0.", in_channels=1, sum_for_one_channel=False
    )
    assert torch.equal(replaced["0.weight"], grey[0].weight.detach())
    assert torch.equal(replaced["0.bias"], grey[0].bias.detach())
    assert replaced["1.weight"] is rgb["1.weight"]

    same = {"0.weight": torch.randn(2, 1, 3, 3)}
    assert (
        adapt_first_conv(
            same, grey, weight_key="0.weight", replace_prefix="0.", in_channels=1, sum_for_one_channel=True
        )
        == same
    )
    five = {"0.weight": torch.randn(2, 5, 3, 3)}
    with pytest.raises(ValueError, match="takes 5 input channels, the network 1; only RGB"):
        adapt_first_conv(
            five, grey, weight_key="0.weight", replace_prefix="0.", in_channels=1, sum_for_one_channel=True
        )
