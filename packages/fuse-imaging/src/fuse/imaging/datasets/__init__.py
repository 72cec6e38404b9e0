"""Public dataset wrappers (FuseMedML's ``fuseimg/datasets``): each class has static ``sample_ids``,
``static_pipeline``, ``dynamic_pipeline`` and ``dataset`` methods, and ``download`` where the data can be downloaded.

>>> from fuse.imaging.datasets import MNIST
>>> MNIST.dynamic_pipeline().get_name()
'dynamic'
"""

from fuse.core import publish_public_names
from fuse.imaging.datasets._cmmd import CMMD
from fuse.imaging.datasets._isic import ISIC
from fuse.imaging.datasets._kits21 import KITS21
from fuse.imaging.datasets._knight import KNIGHT
from fuse.imaging.datasets._mnist import MNIST
from fuse.imaging.datasets._picai import PICAI
from fuse.imaging.datasets._stoic21 import STOIC21

__all__ = ["CMMD", "ISIC", "KITS21", "KNIGHT", "MNIST", "PICAI", "STOIC21"]

publish_public_names(globals(), __name__, __all__)
