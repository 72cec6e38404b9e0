"""Classification metrics by concept: ROC, precision-recall, label metrics, thresholds, confusion counts, Brier scores,
calibration, decision curves, model comparison and ensembles.
"""
