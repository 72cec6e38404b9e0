"""Reading image files into arrays with their geometry: the loader (``_loader``) detects the format (``_format``,
which also holds the metadata layout and dtype conversion shared by the readers) and hands the file to its reader
(``_nifti``, ``_dicom``, ``_itk``, ``_raster``), which report a file they cannot read through ``_format``'s
``as_load_error``; ``_download`` fetches files and archives for the dataset wrappers.
A private folder: the public names are imported from :mod:`fuse.imaging`."""
