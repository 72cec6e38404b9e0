"""The sample cache: the static pipeline's outputs on disk, keyed by an identity that changes whenever they would.

``_identity`` computes that key (with ``_origin``: where code is installed, and ``_code``: what code runs);
``_cacher`` reads and maintains a cache, ``_build`` computes and commits missing samples, ``_ids`` names samples;
``_store`` is one crash-safe directory, ``_locks`` its lock files and atomic removal, ``_codec`` the stored form of
one sample; ``_audit`` recomputes and compares, ``_claim_wait`` waits on other builders; ``_shards``, ``_publish``
and ``_shards_cli`` build per-rank shards and publish them. Import the public names from :mod:`fuse.data`.
"""
