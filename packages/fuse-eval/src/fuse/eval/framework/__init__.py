"""The metric framework: metric base classes, the collector that gathers values by sample id, per-sample results, array
and input conventions, lazily imported scientific libraries, and warnings.
"""
