"""Metrics around metrics: bootstrap confidence intervals (``CI``), paired bootstraps, group analysis and filters,
cluster resampling, and the interval methods they use (percentile, BCa, Wilson, Clopper-Pearson).
"""
