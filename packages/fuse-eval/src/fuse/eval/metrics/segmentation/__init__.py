"""Segmentation metrics: overlap (Dice, IoU), surface distances (Hausdorff), and instance detection."""
