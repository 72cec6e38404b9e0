"""Plots (the ``plot`` extra, matplotlib imported on first use): ROC and precision-recall curves, calibration, decision
curves and the confusion matrix.
"""
