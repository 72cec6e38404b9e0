"""The imaging ops, by concern: intensity (``_intensity``, ``_aug_intensity``), grid size (``_resize``: resize, pad,
crop), world geometry (``_geometry``: resample, reorient), axis layout (``_layout``), geometric augmentation
(``_aug_geometry``), mammography content (``_mammography``), key types (``_key_types``) and drawing (``_vis``);
``_common`` holds the helpers they share. A private folder: the public names are imported from :mod:`fuse.imaging`."""
