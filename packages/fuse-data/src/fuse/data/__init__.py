"""fuse-data: reusable ops, static + dynamic pipelines, datasets and a crash-safe, never-stale sample cache.

>>> from fuse.core import create_initial_sample
>>> from fuse.data import PipelineDefault
>>> def scale(sample, key, factor):
...     sample[key] = sample[key] * factor
...     return sample
>>> pipeline = PipelineDefault("static", [(scale, {"key": "data.x", "factor": 2})])
>>> sample = create_initial_sample("case_1")
>>> sample["data.x"] = 21
>>> pipeline(sample)["data.x"]
42
"""

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from fuse.core import (
    NDict,
    create_initial_sample,
    get_initial_sample_id,
    get_initial_sample_id_key,
    get_sample_id,
    get_sample_id_key,
    get_specific_sample_from_potentially_morphed,
    publish_public_names,
    set_initial_sample_id,
    set_sample_id,
)
from fuse.data._pipeline import BOOKKEEPING_PREFIX, PipelineDefault, PipelineDefaultRetryAnySample
from fuse.data._sample_keys import MissingSampleKeyError, sample_value
from fuse.data._version import __version__
from fuse.data.cache._audit import SampleCachingAudit, SampleCachingAuditError, SampleCachingAuditWarning
from fuse.data.cache._cacher import SampleNotCachedError, SamplesCacher
from fuse.data.cache._codec import CorruptCachedSampleError, CorruptCacheError
from fuse.data.cache._identity import UnstableIdentityError, value_identity
from fuse.data.cache._ids import sample_id_key
from fuse.data.cache._publish import (
    open_published_cache,
    publication_state,
    publish_cache_shards,
    published_cache_dirs,
    verify_cache_shard,
)
from fuse.data.cache._run_cached import run_cached_func
from fuse.data.cache._shards import CacheShard, CacheShardError
from fuse.data.cache._store import ReadOnlyCacheError
from fuse.data.cache._versions import StaleCacheWarning
from fuse.data.dataset._base import DatasetBase
from fuse.data.dataset._collate import CollateDefault
from fuse.data.dataset._dataset import DatasetDefault
from fuse.data.dataset._export import ExportDataset, SupportsGetMulti
from fuse.data.dataset._sampler import BatchSamplerDefault
from fuse.data.dataset._split import balanced_division, dataset_balanced_division_to_folds, print_folds_stat
from fuse.data.dataset._wrap import DatasetWrapSeqToDict, OpReadDataset
from fuse.data.ops._aug import OpAugOneHot, OpRandApply, OpRandCropSeq, OpRepeatAndSample, OpSample, OpSampleAndRepeat
from fuse.data.ops._base import OpBase, OpReversibleBase, op_call, op_reverse
from fuse.data.ops._cast import Cast, OpCast, OpOneHotToNumber, OpToFloat, OpToInt, OpToNumpy, OpToTensor
from fuse.data.ops._control import (
    OpApplyPatterns,
    OpApplyTypes,
    OpCollectMarker,
    OpCond,
    OpFunc,
    OpLambda,
    find_collect_marker,
)
from fuse.data.ops._debug import OpDebugBase, OpPrintKeys, OpPrintKeysContent, OpPrintShapes, OpPrintTypes
from fuse.data.ops._keypaths import OpCopy, OpDeleteKeypaths, OpKeepKeypaths, OpSet, OpSetIfNotExist, OpSetRandomChoice
from fuse.data.ops._patterns import DataTypeBasic, Patterns, TypeDetectorBase, TypeDetectorPatternsBased
from fuse.data.ops._read import OpReadDataframe, OpReadMultiFromDataframe, SampleIdNotFoundError
from fuse.data.ops._repeat import OpRepeat
from fuse.data.ops._values import (
    OpConcat,
    OpLookup,
    OpOverrideNaN,
    OpReplaceAnyElements,
    OpReplaceElements,
    OpToOneHot,
    OpZScoreNorm,
)

__all__ = [
    "BatchSamplerDefault",
    "BOOKKEEPING_PREFIX",
    "CacheShard",
    "CacheShardError",
    "Cast",
    "CollateDefault",
    "CorruptCachedSampleError",
    "CorruptCacheError",
    "DataTypeBasic",
    "DatasetBase",
    "DatasetDefault",
    "DatasetWrapSeqToDict",
    "EmbeddingInfo",
    "ExportDataset",
    "FastModularTokenizer",
    "InjectorToModularTokenizerLib",
    "MissingSampleKeyError",
    "ModularTokenizer",
    "ModularTokenizerInput",
    "ModularTokenizerOp",
    "ModularTokenizerWithoutInjectOp",
    "NDict",
    "OpApplyPatterns",
    "OpApplyTypes",
    "OpAugOneHot",
    "OpBase",
    "OpCast",
    "OpCollectMarker",
    "OpConcat",
    "OpCond",
    "OpCopy",
    "OpDebugBase",
    "OpDeleteKeypaths",
    "OpFunc",
    "OpKeepKeypaths",
    "OpLambda",
    "OpLookup",
    "OpOneHotToNumber",
    "OpOverrideNaN",
    "OpPrintKeys",
    "OpPrintKeysContent",
    "OpPrintShapes",
    "OpPrintTypes",
    "OpRandApply",
    "OpRandCropSeq",
    "OpReadDataframe",
    "OpReadDataset",
    "OpReadMultiFromDataframe",
    "OpRepeat",
    "OpRepeatAndSample",
    "OpReplaceAnyElements",
    "OpReplaceElements",
    "OpReversibleBase",
    "OpSample",
    "OpSampleAndRepeat",
    "OpSet",
    "OpSetIfNotExist",
    "OpSetRandomChoice",
    "OpToFloat",
    "OpToInt",
    "OpToNumpy",
    "OpToOneHot",
    "OpToTensor",
    "OpZScoreNorm",
    "Patterns",
    "PipelineDefault",
    "PipelineDefaultRetryAnySample",
    "ReadOnlyCacheError",
    "SampleCachingAudit",
    "SampleCachingAuditError",
    "SampleCachingAuditWarning",
    "SampleIdNotFoundError",
    "SampleNotCachedError",
    "SamplesCacher",
    "StaleCacheWarning",
    "SupportsGetMulti",
    "TypeDetectorBase",
    "TypeDetectorPatternsBased",
    "TypedInput",
    "UnstableIdentityError",
    "__version__",
    "balanced_division",
    "create_initial_sample",
    "dataset_balanced_division_to_folds",
    "find_collect_marker",
    "get_initial_sample_id",
    "get_initial_sample_id_key",
    "get_sample_id",
    "get_sample_id_key",
    "get_specific_sample_from_potentially_morphed",
    "list_to_tokenizer_string",
    "op_call",
    "op_reverse",
    "open_published_cache",
    "print_folds_stat",
    "publication_state",
    "publish_cache_shards",
    "published_cache_dirs",
    "run_cached_func",
    "sample_id_key",
    "sample_value",
    "set_initial_sample_id",
    "set_sample_id",
    "special_wrap_input",
    "strip_special_wrap",
    "value_identity",
    "verify_cache_shard",
]

if TYPE_CHECKING:
    from fuse.data.tokenizers._inject_op import ModularTokenizerOp
    from fuse.data.tokenizers._injector import EmbeddingInfo, InjectorToModularTokenizerLib
    from fuse.data.tokenizers._inputs import ModularTokenizerInput, TypedInput, list_to_tokenizer_string
    from fuse.data.tokenizers._modular_tokenizer import ModularTokenizer
    from fuse.data.tokenizers._op import FastModularTokenizer, ModularTokenizerWithoutInjectOp
    from fuse.data.tokenizers._special_tokens import special_wrap_input, strip_special_wrap

# the modular tokenizer needs the optional `tokenizers` extra, and importing it costs time: its names load on first use
_TOKENIZER_NAMES = {
    "EmbeddingInfo": "fuse.data.tokenizers._injector",
    "FastModularTokenizer": "fuse.data.tokenizers._op",
    "InjectorToModularTokenizerLib": "fuse.data.tokenizers._injector",
    "ModularTokenizer": "fuse.data.tokenizers._modular_tokenizer",
    "ModularTokenizerInput": "fuse.data.tokenizers._inputs",
    "ModularTokenizerOp": "fuse.data.tokenizers._inject_op",
    "ModularTokenizerWithoutInjectOp": "fuse.data.tokenizers._op",
    "TypedInput": "fuse.data.tokenizers._inputs",
    "list_to_tokenizer_string": "fuse.data.tokenizers._inputs",
    "special_wrap_input": "fuse.data.tokenizers._special_tokens",
    "strip_special_wrap": "fuse.data.tokenizers._special_tokens",
}
TOKENIZERS_EXTRA = 'pip install "fuse-data[tokenizers]"'

publish_public_names(globals(), __name__, [name for name in __all__ if name not in _TOKENIZER_NAMES])
if importlib.util.find_spec("tokenizers") is None or importlib.util.find_spec("yaml") is None:
    # without the extra, `from fuse.data import *` must still work
    __all__ = [name for name in __all__ if name not in _TOKENIZER_NAMES]


def __getattr__(name: str) -> Any:
    """Import a modular-tokenizer name on first use (PEP 562), published as ``fuse.data.<name>``."""
    module_name = _TOKENIZER_NAMES.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name not in ("tokenizers", "yaml"):
            raise
        raise ImportError(
            f"fuse.data.{name} needs the optional {error.name!r} library: {TOKENIZERS_EXTRA}", name=error.name
        ) from error
    names = [n for n, m in _TOKENIZER_NAMES.items() if m == module_name]
    values = {n: getattr(module, n) for n in names}
    publish_public_names(values, __name__, names)
    globals().update(values)
    return values[name]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TOKENIZER_NAMES))
