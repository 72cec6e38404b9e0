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

from fuse.data._audit import SampleCachingAudit, SampleCachingAuditError, SampleCachingAuditWarning
from fuse.data._cache_store import ReadOnlyCacheError
from fuse.data._cacher import SampleNotCachedError, SamplesCacher, StaleCacheWarning, sample_id_key
from fuse.data._collate import CollateDefault
from fuse.data._dataset import DatasetDefault
from fuse.data._dataset_wrap import DatasetWrapSeqToDict, OpReadDataset
from fuse.data._export import ExportDataset, SupportsGetMulti
from fuse.data._identity import UnstableIdentityError, value_identity
from fuse.data._op_base import OpBase, OpReversibleBase, op_call, op_reverse
from fuse.data._ops_aug import OpAugOneHot, OpRandApply, OpRandCropSeq, OpRepeatAndSample, OpSample, OpSampleAndRepeat
from fuse.data._ops_cast import Cast, OpCast, OpOneHotToNumber, OpToFloat, OpToInt, OpToNumpy, OpToTensor
from fuse.data._ops_common import (
    OpApplyPatterns,
    OpApplyTypes,
    OpCollectMarker,
    OpConcat,
    OpCond,
    OpCopy,
    OpDeleteKeypaths,
    OpFunc,
    OpKeepKeypaths,
    OpLambda,
    OpLookup,
    OpOverrideNaN,
    OpReplaceAnyElements,
    OpReplaceElements,
    OpSet,
    OpSetIfNotExist,
    OpSetRandomChoice,
    OpToOneHot,
    OpZScoreNorm,
    find_collect_marker,
)
from fuse.data._ops_debug import OpDebugBase, OpPrintKeys, OpPrintKeysContent, OpPrintShapes, OpPrintTypes
from fuse.data._ops_read import OpReadDataframe, OpReadMultiFromDataframe, SampleIdNotFoundError
from fuse.data._ops_repeat import OpRepeat
from fuse.data._patterns import DataTypeBasic, Patterns, TypeDetectorBase, TypeDetectorPatternsBased
from fuse.data._pipeline import BOOKKEEPING_PREFIX, PipelineDefault, PipelineDefaultRetryAnySample
from fuse.data._sample_codec import CorruptCachedSampleError, CorruptCacheError
from fuse.data._sample_keys import MissingSampleKeyError, sample_value
from fuse.data._sampler import BatchSamplerDefault
from fuse.data._shards import (
    CacheShard,
    CacheShardError,
    open_published_cache,
    publication_state,
    publish_cache_shards,
    published_cache_dirs,
    verify_cache_shard,
)
from fuse.data._split import balanced_division, dataset_balanced_division_to_folds, print_folds_stat
from fuse.data._version import __version__

_PUBLIC_CLASSES: tuple[type, ...] = (
    UnstableIdentityError, OpBase, OpReversibleBase, PipelineDefault, PipelineDefaultRetryAnySample,
    OpDebugBase, OpPrintKeys, OpPrintKeysContent, OpPrintShapes, OpPrintTypes, OpReadDataframe,
    OpReadMultiFromDataframe, SampleIdNotFoundError, MissingSampleKeyError, CollateDefault,
    ExportDataset, SupportsGetMulti, SampleCachingAudit, SampleCachingAuditError, SampleCachingAuditWarning, ReadOnlyCacheError,
    SampleNotCachedError, SamplesCacher, StaleCacheWarning, DatasetDefault, DatasetWrapSeqToDict, OpReadDataset,
    CorruptCacheError, CorruptCachedSampleError, BatchSamplerDefault, CacheShard, CacheShardError,
    OpAugOneHot, OpRandApply, OpRandCropSeq, OpRepeatAndSample, OpSample, OpSampleAndRepeat, Cast, OpCast, OpOneHotToNumber, OpToFloat, OpToInt, OpToNumpy, OpToTensor, OpApplyPatterns, OpApplyTypes, OpCollectMarker, OpConcat, OpCond, OpCopy, OpDeleteKeypaths, OpFunc, OpKeepKeypaths, OpLambda, OpLookup, OpOverrideNaN, OpReplaceAnyElements, OpReplaceElements, OpSet, OpSetIfNotExist, OpSetRandomChoice, OpToOneHot, OpZScoreNorm, OpRepeat, DataTypeBasic, Patterns, TypeDetectorBase, TypeDetectorPatternsBased,
)  # fmt: skip
for _public in _PUBLIC_CLASSES:
    _public.__module__ = __name__
del _public, _PUBLIC_CLASSES

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
    "DatasetDefault",
    "DatasetWrapSeqToDict",
    "ExportDataset",
    "MissingSampleKeyError",
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
    "UnstableIdentityError",
    "__version__",
    "balanced_division",
    "dataset_balanced_division_to_folds",
    "find_collect_marker",
    "op_call",
    "op_reverse",
    "open_published_cache",
    "print_folds_stat",
    "publication_state",
    "publish_cache_shards",
    "published_cache_dirs",
    "sample_id_key",
    "sample_value",
    "value_identity",
    "verify_cache_shard",
]
