"""examples/protein_ligand runs end to end on tiny synthetic pairs, learns the planted binding rule, and the AUC it
reports is scikit-learn's on the predictions it wrote."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

pytest.importorskip("tokenizers", reason='pip install "fuse-data[tokenizers]"')
from sklearn.metrics import roc_auc_score

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "protein_ligand"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny tensors: one thread avoids the cost of intra-op threads, which is large on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _import(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"protein_ligand_example_{name}", EXAMPLE_DIR / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_planted_motif_is_learned_and_the_reported_auc_is_sklearns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs_script, example = _import("make_synthetic_pairs"), _import("train")
    data, out = tmp_path / "pairs", tmp_path / "run"
    # no label noise: with 40 test pairs, each flipped label would cost the AUC about 0.04
    assert pairs_script.main(["--out", str(data), "--n", "200", "--seed", "1", "--label-noise", "0"]) == 0
    pairs = pd.read_csv(data / "pairs.csv")
    # the planted rule: a pair binds when its protein has the motif and its ligand the bromine
    rule = pairs["protein"].str.contains(pairs_script.MOTIF) & pairs["ligand"].str.contains("Br")
    assert (rule.astype(int) == pairs["binds"]).all()
    assert pairs["binds"].mean() == 0.5

    # 120 training pairs, 5 epochs of 8 steps: seconds on a CPU (seeds 0-5 give test AUCs of 0.87-0.96)
    arguments = ["--pairs", str(data / "pairs.csv"), "--out", str(out), "--epochs", "5", "--batch-size", "16"]
    assert example.main([*arguments, "--bootstraps", "100", "--no-plots", "--seed", "1"]) == 0

    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["pair_id", "binds", "prob_binds"]
    split = pd.read_csv(out / "split.csv")
    assert sorted(predictions["pair_id"]) == sorted(split.loc[split["split"] == "test", "pair_id"])
    truth = pairs.set_index("pair_id").loc[predictions["pair_id"], "binds"].to_numpy()
    assert (predictions["binds"].to_numpy() == truth).all()  # each prediction sits next to its own pair's label

    report = json.loads((out / "report" / "results.json").read_text())
    auc = report["metrics"]["auc"]
    assert auc["value"] == pytest.approx(roc_auc_score(predictions["binds"], predictions["prob_binds"]), abs=1e-12)
    assert auc["low"] <= auc["value"] <= auc["high"]
    assert auc["value"] > 0.75  # chance is 0.5; the motif alone ranks 3 in 4 negatives below every positive
    assert f"test ROC AUC {auc['value']:.3f}" in capsys.readouterr().out
    # the tokenizer it used is saved in FuseMedML's layout and loads back
    assert example.ModularTokenizerOp.from_pretrained(out / "tokenizer").get_token_id("<BINDING>") is not None


def test_a_missing_column_stops_with_one_line(tmp_path: Path) -> None:
    example = _import("train")
    (tmp_path / "pairs.csv").write_text("pair_id,protein,binds\np1,MKT,1\n")
    with pytest.raises(SystemExit, match=r"missing column\(s\) \['ligand'\]"):
        example.main(["--pairs", str(tmp_path / "pairs.csv"), "--out", str(tmp_path / "run")])


_BLOCKED_RUN = """
import runpy, sys

class Uninstalled:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "tokenizers":
            raise ModuleNotFoundError("No module named 'tokenizers'", name=name)

sys.meta_path.insert(0, Uninstalled)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_without_tokenizers_the_script_stops_with_one_line_naming_the_pip_command(tmp_path: Path) -> None:
    script = EXAMPLE_DIR / "train.py"
    done = subprocess.run(
        [sys.executable, "-c", _BLOCKED_RUN, str(script), "--pairs", "p.csv", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    expected = "train.py needs the modular tokenizer's extra (No module named 'tokenizers'): "
    assert done.stderr.strip().splitlines() == [expected + 'pip install "fuse-data[tokenizers]"']
