"""The ops: the steps of a pipeline, each reading and writing keys of one sample.

``_base`` holds the op protocol (:class:`~fuse.data.OpBase`, ``op_call``/``op_reverse``); the other modules hold
ops by concern: control flow and dispatch, key management, value transforms, casts, augmentation, reading tables,
repetition, debugging, and the type detectors that dispatch by key pattern. Import them from :mod:`fuse.data`.
"""
