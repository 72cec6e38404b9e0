"""fuse-dl: a Lightning training module, losses, models, backbones and heads, on one GPU or many.

A fuse model is an ``nn.Module`` that reads its inputs from a batch dict and writes its outputs into it; losses
read the batch dict too; :class:`LightningModuleDefault` runs both with fuse-eval metrics, and Lightning's
``Trainer`` does the rest (``strategy="ddp"`` for several GPUs or nodes).

>>> import torch
>>> from fuse.core import NDict
>>> from fuse.dl import Head1D, ModelMultiHead, BackboneMultilayerPerceptron
>>> model = ModelMultiHead(
...     conv_inputs=(("data.input.x", 4),),
...     backbone=BackboneMultilayerPerceptron(layers=(8,), mlp_input_size=4),
...     heads=[Head1D(head_name="cls", mode="classification", conv_inputs=[("model.backbone_features", 8)], num_outputs=2)],
... )
>>> batch = model(NDict({"data.input.x": torch.zeros(3, 4)}))
>>> tuple(batch["model.output.cls"].shape)
(3, 2)
"""

from fuse.core import publish_public_names
from fuse.dl._batch_keys import MissingBatchKeyError
from fuse.dl._cross_validation import run_cross_validation
from fuse.dl._model_io import load_model, save_model
from fuse.dl._version import __version__
from fuse.dl.backbones._inception_resnet_v2 import BackboneInceptionResnetV2
from fuse.dl.backbones._mlp import BackboneMultilayerPerceptron
from fuse.dl.backbones._resnet import BackboneResnet
from fuse.dl.backbones._resnet3d import BackboneResnet3D
from fuse.dl.backbones._unet import UNet
from fuse.dl.backbones._vit import ProjectPatchesTokenizer, Transformer, ViT, vit_base, vit_small, vit_tiny
from fuse.dl.heads._classifiers import ClassifierFCN, ClassifierFCN3D, ClassifierMLP
from fuse.dl.heads._heads import Head1D, Head3D, HeadDenseSegmentation, HeadGlobalPoolingClassifier
from fuse.dl.heads._pooling import ModularPooling1D
from fuse.dl.losses._base import LossBase, LossDefault, LossExtractFromBatchDict, LossWarmUp, LossWrapToDict
from fuse.dl.losses._contrastive import SupervisedContrastiveLoss, softcrossentropyloss, supervised_contrastive_loss
from fuse.dl.losses._dice import BinaryDiceLoss, DiceLoss
from fuse.dl.losses._focal import FocalLoss
from fuse.dl.losses._segmentation import LossSegmentationCrossEntropy
from fuse.dl.models._ensemble import ModelEnsemble
from fuse.dl.models._multihead import ModelMultiHead, ModelMultistream, ModelSiamese
from fuse.dl.models._wrappers import ModelWrapDictToSeq, ModelWrapSeqToDict
from fuse.dl.training._callbacks import model_default_callbacks
from fuse.dl.training._ddp import all_gather_columns, gather_predictions
from fuse.dl.training._epoch_end import epoch_end_compute_and_log_losses, epoch_end_compute_and_log_metrics
from fuse.dl.training._epoch_summary import ModelEpochSummary
from fuse.dl.training._module import LightningModuleDefault
from fuse.dl.training._sampler_state import BatchSamplerEpoch
from fuse.dl.training._steps import (
    convert_predictions_to_dataframe,
    step_extract_predictions,
    step_losses,
    step_metrics,
)

__all__ = [
    "BackboneInceptionResnetV2",
    "BackboneMultilayerPerceptron",
    "BackboneResnet",
    "BackboneResnet3D",
    "BatchSamplerEpoch",
    "BinaryDiceLoss",
    "ClassifierFCN",
    "ClassifierFCN3D",
    "ClassifierMLP",
    "DiceLoss",
    "FocalLoss",
    "Head1D",
    "Head3D",
    "HeadDenseSegmentation",
    "HeadGlobalPoolingClassifier",
    "LightningModuleDefault",
    "LossBase",
    "LossDefault",
    "LossExtractFromBatchDict",
    "LossSegmentationCrossEntropy",
    "LossWarmUp",
    "LossWrapToDict",
    "MissingBatchKeyError",
    "ModelEnsemble",
    "ModelEpochSummary",
    "ModelMultiHead",
    "ModelMultistream",
    "ModelSiamese",
    "ModelWrapDictToSeq",
    "ModelWrapSeqToDict",
    "ModularPooling1D",
    "ProjectPatchesTokenizer",
    "SupervisedContrastiveLoss",
    "Transformer",
    "UNet",
    "ViT",
    "__version__",
    "all_gather_columns",
    "convert_predictions_to_dataframe",
    "epoch_end_compute_and_log_losses",
    "epoch_end_compute_and_log_metrics",
    "gather_predictions",
    "load_model",
    "model_default_callbacks",
    "run_cross_validation",
    "save_model",
    "softcrossentropyloss",
    "step_extract_predictions",
    "step_losses",
    "step_metrics",
    "supervised_contrastive_loss",
    "vit_base",
    "vit_small",
    "vit_tiny",
]

publish_public_names(globals(), __name__, __all__)
