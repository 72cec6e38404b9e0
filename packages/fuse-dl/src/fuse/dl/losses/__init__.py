"""Losses: callables ``loss(batch_dict) -> scalar tensor`` (the generic wrappers, the segmentation losses and the
supervised contrastive loss), reading predictions and targets from the batch dict by key."""
