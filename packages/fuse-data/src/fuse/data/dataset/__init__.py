"""Datasets and what surrounds them: :class:`~fuse.data.DatasetDefault` (pipelines plus cache) in ``_dataset``, its
wrappers (``_wrap``), export of sample values to tables (``_export``), fold splitting (``_split``), the balanced
batch sampler (``_sampler``, its argument checks in ``_sampler_checks``) and the collate function (``_collate``).
Import the public names from :mod:`fuse.data`.
"""
