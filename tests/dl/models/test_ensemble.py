"""ModelEnsemble: per-model outputs, average against separately run models, majority vote on crafted models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fuse.core import NDict
from fuse.dl import ModelEnsemble, ModelWrapSeqToDict, load_model, save_model


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def softmax_pair(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return logits, logits.softmax(dim=1)


def build_classifier(in_features: int = 4, num_classes: int = 3) -> nn.Module:
    return ModelWrapSeqToDict(
        model=nn.Linear(in_features, num_classes),
        model_inputs=["data.x"],
        model_outputs=["model.logits.cls", "model.output.cls"],
        post_forward_processing_function=softmax_pair,
    )


class ConstantProbabilities(nn.Module):
    """Writes fixed per-sample class probabilities (held as a parameter) under model.output.cls."""

    def __init__(self, num_samples: int, num_classes: int) -> None:
        super().__init__()
        self.probs = nn.Parameter(torch.zeros(num_samples, num_classes))

    def forward(self, batch_dict: NDict) -> NDict:
        batch_dict["model.output.cls"] = self.probs * 1.0
        batch_dict["model.output.mask"] = self.probs[:, :, None] * torch.ones(1, 1, 2)  # [B, C, 2]: a "dense" output
        return batch_dict


def _save_classifiers(tmp_path: Path, n: int) -> list[Path]:
    dirs = [tmp_path / f"model_{i}" for i in range(n)]
    for model_dir in dirs:
        save_model(model_dir, build_classifier(), builder=build_classifier)
    return dirs


def test_average_and_per_model_outputs_match_separate_runs(tmp_path: Path) -> None:
    dirs = _save_classifiers(tmp_path, 3)
    ensemble = ModelEnsemble(dirs, trusted=True)
    assert len(ensemble.nets) == 3
    x = torch.randn(5, 4)
    batch = ensemble(NDict({"data.x": x}))

    separate = [load_model(model_dir, trusted=True)(NDict({"data.x": x}))["model.output.cls"] for model_dir in dirs]
    for index, probs in enumerate(separate):
        torch.testing.assert_close(batch[f"model.output.ensemble_output_{index}.cls"], probs)
    torch.testing.assert_close(batch["model.output.cls_ensemble_average"], sum(separate) / 3)
    torch.testing.assert_close(batch["model.output.cls_ensemble_average"].sum(dim=1), torch.ones(5))
    # the models ran on copies: the batch gets only the ensemble keys (logits are not under model.output)
    assert set(batch.keypaths()) == {
        "data.x",
        "model.output.ensemble_output_0.cls",
        "model.output.ensemble_output_1.cls",
        "model.output.ensemble_output_2.cls",
        "model.output.cls_ensemble_average",
        "model.output.cls_ensemble_majority_vote",
    }
    assert "model.output.cls" not in batch
    assert "model.logits.cls" not in batch


def test_majority_vote_on_crafted_models(tmp_path: Path) -> None:
    # argmax per sample of each model; the vote is per sample (FuseMedML voted on whole-batch rows)
    winners = [[0, 1, 2, 1, 0], [0, 2, 2, 0, 1], [1, 2, 0, 0, 2]]
    expected_vote = [0, 2, 2, 0, 0]  # the last sample is a three-way tie: the smallest class wins
    dirs = []
    for index, classes in enumerate(winners):
        model = ConstantProbabilities(num_samples=5, num_classes=3)
        with torch.no_grad():
            model.probs.fill_(0.1)
            model.probs[torch.arange(5), torch.tensor(classes)] = 0.8
        dirs.append(tmp_path / str(index))
        save_model(dirs[-1], model, builder=ConstantProbabilities, builder_kwargs={"num_samples": 5, "num_classes": 3})
    ensemble = ModelEnsemble(dirs, trusted=True)
    batch = ensemble(NDict({"data.sample_id": list("abcde")}))
    vote = batch["model.output.cls_ensemble_majority_vote"]
    assert vote.dtype == torch.int64
    assert vote.tolist() == expected_vote
    # a dense [B, C, 2] output votes per location
    assert batch["model.output.mask_ensemble_majority_vote"].tolist() == [[v, v] for v in expected_vote]
    # the average of the crafted probabilities
    expected_average = torch.full((5, 3), 0.1)
    for classes in winners:
        expected_average[torch.arange(5), torch.tensor(classes)] += 0.7 / 3
    torch.testing.assert_close(batch["model.output.cls_ensemble_average"], expected_average)


def test_explicit_output_keys_and_builder(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    for model_dir in dirs:
        save_model(model_dir, build_classifier(num_classes=2))  # state only: the builder is passed to the ensemble
    ensemble = ModelEnsemble(
        [str(d) for d in dirs],
        builder=build_classifier,
        builder_kwargs={"num_classes": 2},
        output_keys=["model.logits.cls"],
    )
    x = torch.randn(3, 4)
    batch = ensemble(NDict({"data.x": x}))
    logits = [net(NDict({"data.x": x}))["model.logits.cls"] for net in ensemble.nets]
    torch.testing.assert_close(batch["model.logits.cls_ensemble_average"], (logits[0] + logits[1]) / 2)
    assert "model.output.cls_ensemble_average" not in batch
    assert batch["model.output.ensemble_output_1.cls"].shape == (3, 2)
    ensemble.zero_grad()
    batch["model.logits.cls_ensemble_average"].sum().backward()
    assert all(p.grad is not None for p in ensemble.parameters())
    assert sorted(ensemble.state_dict()) == [f"nets.{i}.model.{p}" for i in (0, 1) for p in ("bias", "weight")]


def test_rerunning_on_the_same_batch_does_not_nest_outputs(tmp_path: Path) -> None:
    ensemble = ModelEnsemble(_save_classifiers(tmp_path, 2), trusted=True)
    batch = ensemble(NDict({"data.x": torch.randn(2, 4)}))
    keys = sorted(batch.keypaths())
    assert sorted(ensemble(batch).keypaths()) == keys


def test_ensemble_errors(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="input_model_dirs must be a sequence of model directories"):
        ModelEnsemble(str(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="input_model_dirs is empty"):
        ModelEnsemble([])
    with pytest.raises(TypeError, match=r"output_keys must be a sequence of keys, write \['model.output.cls'\]"):
        ModelEnsemble(_save_classifiers(tmp_path, 1), output_keys="model.output.cls")  # type: ignore[arg-type]
    ensemble = ModelEnsemble(_save_classifiers(tmp_path, 1), output_keys=["model.output.nope"], trusted=True)
    with pytest.raises(
        KeyError, match=r"ModelEnsemble \(model 0, .*model_0\): the batch_dict has no key 'model.output.nope'"
    ):
        ensemble(NDict({"data.x": torch.randn(2, 4)}))
    ensemble.output_keys = ["data.ids"]
    with pytest.raises(TypeError, match=r"output key 'data\.ids' of model 0 must be a floating-point tensor"):
        ensemble(NDict({"data.x": torch.randn(2, 4), "data.ids": torch.arange(2)}))
    save_model(tmp_path / "bare", build_classifier())
    with pytest.raises(ValueError, match=r"has no model_builder\.json"):
        ModelEnsemble([tmp_path / "bare"])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True])
def test_ensemble_on_gpu(tmp_path: Path, autocast: bool) -> None:
    ensemble = ModelEnsemble(_save_classifiers(tmp_path, 3)).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        batch = ensemble(NDict({"data.x": torch.randn(5, 4, device="cuda")}))
    average = batch["model.output.cls_ensemble_average"]
    assert average.is_cuda
    assert batch["model.output.cls_ensemble_majority_vote"].is_cuda
    torch.testing.assert_close(average.float().sum(dim=1), torch.ones(5, device="cuda"), atol=1e-2, rtol=0)
    average[:, 0].float().sum().backward()  # (the rows of an average of probabilities sum to a constant)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ensemble.parameters())
