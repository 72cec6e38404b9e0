"""Backbones: feature extractors that read an input tensor and return features (ResNet 2D and 3D, Inception-ResNet-v2,
U-Net, ViT, MLP); pretrained weights come through ``fuse.dl._weights``; ``_common`` holds torchvision's layer of
residual blocks, which both ResNets build from."""
