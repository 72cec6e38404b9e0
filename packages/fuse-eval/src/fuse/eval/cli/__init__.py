"""The ``fuse-eval`` command line: arguments, input files, and the ``fuse-eval mrmc`` sub-command."""
