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

from fuse.core import publish_public_names
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
from fuse.data.cache._shards import CacheShard, CacheShardError
from fuse.data.cache._store import ReadOnlyCacheError
from fuse.data.cache._versions import StaleCacheWarning
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

publish_public_names(globals(), __name__, __all__)
