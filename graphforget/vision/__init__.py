r"""Unlearning deep image classifiers (MNIST, scikit-learn digits; MLP, LeNet, ResNet-18).

* :mod:`~graphforget.vision.data`: images as ``Data`` (``x`` kept as ``[N, C, H, W]``),
  loaders and the class-forgetting scenario;
* :mod:`~graphforget.vision.models`: :class:`VisionMLP`, :class:`LeNet`, :class:`ResNet18`;
* :mod:`~graphforget.vision.base`: :class:`VisionUnlearner` and the exact
  :class:`VisionRetrain`;
* :mod:`~graphforget.vision.methods`: FT, GA, NegGrad+, RL, ℓ1-sparse, SalUn, SCRUB,
  Fisher forgetting, Boundary Shrink / Expand;
* :mod:`~graphforget.vision.task`: the ``vision`` benchmark task.

The evaluation protocol lives in :mod:`graphforget.metrics.forgetting`.
"""

from graphforget.vision.base import VisionRetrain, VisionUnlearner
from graphforget.vision.data import as_images, image_shape, load_vision, sample_class_request
from graphforget.vision.methods import (
    SCRUB,
    BoundaryExpand,
    BoundaryShrink,
    FineTune,
    FisherForgetting,
    L1Sparse,
    NegGradPlus,
    RandomLabel,
    SalUn,
    VisionApproximateUnlearner,
    VisionGradientAscent,
)
from graphforget.vision.models import LeNet, ResNet18, VisionMLP, build_vision_model

__all__ = [
    "VisionUnlearner", "VisionRetrain", "VisionApproximateUnlearner", "FineTune",
    "VisionGradientAscent", "NegGradPlus", "RandomLabel", "L1Sparse", "SalUn", "SCRUB",
    "FisherForgetting", "BoundaryShrink", "BoundaryExpand", "VisionMLP", "LeNet", "ResNet18",
    "build_vision_model", "as_images", "image_shape", "load_vision", "sample_class_request",
]
