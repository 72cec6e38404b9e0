"""fuse-core: the torch-free foundation of fuse.

NDict samples and sample-id conventions, seeding and random parameter samplers, collate helpers,
atomic file IO, Python-file configs, multiprocessing and timing utilities.

>>> from fuse.core import NDict
>>> sample = NDict({"data": {"sample_id": "case_1"}})
>>> sample["data.sample_id"]
'case_1'
"""

from fuse.core._archives import DEFAULT_MAX_EXTRACT_BYTES, UnsafeArchiveError, extract_archive, extract_zip_file
from fuse.core._atomic import AtomicFileWriter
from fuse.core._collate import CollateToBatchList, uncollate
from fuse.core._config import Config, get_config_function
from fuse.core._errors import add_note
from fuse.core._file_io import (
    create_dir,
    create_or_reset_dir,
    delete_directory_tree,
    load_pickle,
    read_dataframe,
    read_text_file,
    save_dataframe,
    save_pickle,
    save_pickle_safe,
    save_text_file,
    save_text_file_safe,
)
from fuse.core._multiprocessing import (
    MpContext,
    WorkerFailedError,
    get_chunks_ranges,
    get_from_global_storage,
    num_available_cores,
    run_in_subprocess,
    run_multiprocessed,
)
from fuse.core._ndict import NDict, NDictView, NestedKeyError
from fuse.core._param_sampler import (
    Choice,
    Gaussian,
    ParamSamplerBase,
    RandBool,
    RandInt,
    Uniform,
    draw_samples_recursively,
)
from fuse.core._paths import add_base_prefix, change_extension, get_extension, get_valid_filename, remove_extension
from fuse.core._profiling import Profiler, Timer
from fuse.core._progress import progress
from fuse.core._public_names import defining_module, publish_public_names
from fuse.core._renamed import renamed_keywords
from fuse.core._sample import (
    INITIAL_SAMPLE_ID_KEY,
    SAMPLE_ID_KEY,
    create_initial_sample,
    get_initial_sample_id,
    get_initial_sample_id_key,
    get_sample_id,
    get_sample_id_key,
    get_specific_sample_from_potentially_morphed,
    set_initial_sample_id,
    set_sample_id,
)
from fuse.core._seed import Seed, seed_worker_init, set_seed
from fuse.core._tensors import is_tensor, loaded_torch, to_numpy
from fuse.core._version import __version__

__all__ = [
    "DEFAULT_MAX_EXTRACT_BYTES",
    "INITIAL_SAMPLE_ID_KEY",
    "SAMPLE_ID_KEY",
    "AtomicFileWriter",
    "Choice",
    "CollateToBatchList",
    "Config",
    "Gaussian",
    "MpContext",
    "NDict",
    "NDictView",
    "NestedKeyError",
    "ParamSamplerBase",
    "Profiler",
    "RandBool",
    "RandInt",
    "Seed",
    "Timer",
    "Uniform",
    "UnsafeArchiveError",
    "WorkerFailedError",
    "__version__",
    "add_base_prefix",
    "add_note",
    "change_extension",
    "create_dir",
    "create_initial_sample",
    "create_or_reset_dir",
    "defining_module",
    "delete_directory_tree",
    "draw_samples_recursively",
    "extract_archive",
    "extract_zip_file",
    "get_chunks_ranges",
    "get_config_function",
    "get_extension",
    "get_from_global_storage",
    "get_initial_sample_id",
    "get_initial_sample_id_key",
    "get_sample_id",
    "get_sample_id_key",
    "get_specific_sample_from_potentially_morphed",
    "get_valid_filename",
    "is_tensor",
    "load_pickle",
    "loaded_torch",
    "num_available_cores",
    "progress",
    "publish_public_names",
    "read_dataframe",
    "read_text_file",
    "remove_extension",
    "renamed_keywords",
    "run_in_subprocess",
    "run_multiprocessed",
    "save_dataframe",
    "save_pickle",
    "save_pickle_safe",
    "save_text_file",
    "save_text_file_safe",
    "seed_worker_init",
    "set_initial_sample_id",
    "set_sample_id",
    "set_seed",
    "to_numpy",
    "uncollate",
]

publish_public_names(globals(), __name__, __all__)
