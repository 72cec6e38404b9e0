"""Heads: modules that read backbone features from the batch dict and write logits and outputs into it, and the
classifier blocks (fully convolutional, MLP) they are built from."""
