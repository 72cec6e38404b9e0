"""Public dataset wrappers (FuseMedML's ``fuseimg/datasets``): each class has static ``sample_ids``,
``static_pipeline``, ``dynamic_pipeline`` and ``dataset`` methods, and ``download`` where the data can be downloaded.

>>> from fuse.imaging.datasets import MNIST
>>> MNIST.dynamic_pipeline().get_name()
'dynamic'
"""

from fuse.core import publish_public_names
from fuse.imaging.datasets._cmmd import CMMD, OpCMMDSampleIDDecode
from fuse.imaging.datasets._isic import ISIC, OpEncodeMetaData, OpISICSampleIDDecode
from fuse.imaging.datasets._kits21 import KITS21, OpKits21SampleIDDecode
from fuse.imaging.datasets._knight import KNIGHT, OpClinicalLoad, OpKnightSampleIDDecode, OpPrepareClinical
from fuse.imaging.datasets._mnist import MNIST
from fuse.imaging.datasets._picai import (
    PICAI,
    OpLoadPICAIImage,
    OpLoadPICAISegmentation,
    OpLoadPICAISegmentationWholeGland,
    OpPICAISampleIDDecode,
)
from fuse.imaging.datasets._stoic21 import STOIC21, OpSTOIC21SampleIDDecode

__all__ = [
    "CMMD",
    "ISIC",
    "KITS21",
    "KNIGHT",
    "MNIST",
    "PICAI",
    "STOIC21",
    "OpCMMDSampleIDDecode",
    "OpClinicalLoad",
    "OpEncodeMetaData",
    "OpISICSampleIDDecode",
    "OpKits21SampleIDDecode",
    "OpKnightSampleIDDecode",
    "OpLoadPICAIImage",
    "OpLoadPICAISegmentation",
    "OpLoadPICAISegmentationWholeGland",
    "OpPICAISampleIDDecode",
    "OpPrepareClinical",
    "OpSTOIC21SampleIDDecode",
]

publish_public_names(globals(), __name__, __all__)
