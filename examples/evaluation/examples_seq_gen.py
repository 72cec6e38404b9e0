"""FuseMedML's ``fuse/eval/examples/examples_seq_gen.py`` written with the public ``fuse.eval`` API: perplexity of
generated token probabilities, and counts of sequences and tokens, from a DataFrame or from a torch DataLoader
(``batch_size=0``: the evaluator collects ready-made batches).

The metrics are torch-free; these examples use torch to draw FuseMedML's random data (``torch.manual_seed``) and
for the DataLoader, so they need it (``pip install fuse-dl``, which brings a pinned torch).
"""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
from eval_example_inputs import header, require

from fuse.core import NDict
from fuse.eval import EvaluatorDefault, MetricCountSeqAndTokens, MetricPerplexity

TORCH_PIP = "fuse-dl"  # torch, at the version the fuse packages are tested with


def random_token_predictions(seed: int = 1234) -> pd.DataFrame:
    """FuseMedML's data: 1,000 sequences of 7 tokens over a vocabulary of 100, a softmax of random logits per token
    (``pred``, ``[7, 100]`` per row) and random target tokens (``label``, ``[7]``), drawn by torch from ``seed``."""
    torch = require("torch", TORCH_PIP)
    torch.manual_seed(seed=seed)
    pred = torch.nn.functional.softmax(torch.randn(1000, 7, 100), dim=-1).numpy()
    target = torch.randint(0, 100, (1000, 7)).numpy()
    frame: pd.DataFrame = pd.DataFrame({"pred": list(pred), "label": list(target), "id": list(range(1000))})
    return frame


def dataframe_loader(data: pd.DataFrame, batch_size: int) -> Any:
    """A torch DataLoader over the rows of ``data`` (fuse-data's dataset, pipeline and collate), yielding batch dicts."""
    require("torch", TORCH_PIP)
    from torch.utils.data import DataLoader

    from fuse.data import CollateDefault, DatasetDefault, OpReadDataframe, PipelineDefault

    pipeline = PipelineDefault("read", [(OpReadDataframe(data, key_column="id"), {})])
    dataset = DatasetDefault(sample_ids=len(data), dynamic_pipeline=pipeline)
    dataset.create()
    # a map-style dataset (len and indexing): what DataLoader needs, though fuse-data does not subclass torch's Dataset
    return DataLoader(cast(Any, dataset), collate_fn=CollateDefault(), batch_size=batch_size)


def example_seq_gen_0(seed: int = 1234) -> NDict:
    """Perplexity of the whole DataFrame at once."""
    header("example_seq_gen_0", "perplexity, from a DataFrame")
    metrics = {"perplexity": MetricPerplexity(preds="pred", target="label")}
    results = EvaluatorDefault().eval(ids=None, data=random_token_predictions(seed), metrics=metrics)
    print(f"perplexity = {results['metrics.perplexity']:.4f}")
    return results


def example_seq_gen_1(seed: int = 1234) -> NDict:
    """Perplexity accumulated batch by batch, from a DataLoader of 100-row batches (``batch_size=0``)."""
    header("example_seq_gen_1", "perplexity, from a DataLoader")
    loader = dataframe_loader(random_token_predictions(seed), batch_size=100)
    metrics = {"perplexity": MetricPerplexity(preds="pred", target="label")}
    results = EvaluatorDefault().eval(ids=None, data=loader, metrics=metrics, batch_size=0)
    print(f"perplexity = {results['metrics.perplexity']:.4f}")
    return results


def example_seq_gen_2() -> NDict:
    """Number of sequences and of tokens, a padding token (``ignore_index``) left out of the count."""
    header("example_seq_gen_2", "sequences and tokens, from a DataLoader")
    torch = require("torch", TORCH_PIP)
    tokens = torch.arange(5000).reshape(10, 500)  # token 4999 stands for padding
    data = pd.DataFrame({"encoder_input_tokens": list(tokens), "id": list(range(10))})
    metrics = {"count": MetricCountSeqAndTokens(encoder_input="encoder_input_tokens", ignore_index=4999)}
    results = EvaluatorDefault().eval(
        ids=None, data=dataframe_loader(data, batch_size=1), metrics=metrics, batch_size=0
    )
    print(f"sequences = {results['metrics.count.seq_num']}, tokens = {results['metrics.count.token_num']}")
    return results
