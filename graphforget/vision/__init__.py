r"""Unlearning deep image classifiers (MNIST, scikit-learn digits; MLP, LeNet, ResNet-18).

* :mod:`~graphforget.vision.data`: images as ``Data`` (``x`` kept as ``[N, C, H, W]``),
  loaders and the class-forgetting scenario;
* :mod:`~graphforget.vision.models`: :class:`VisionMLP`, :class:`LeNet`, :class:`ResNet18`;
* :mod:`~graphforget.vision.base`: :class:`VisionUnlearner` and the base of the
  approximate image methods;
* the methods live in their families and are re-exported here on first use: the exact
  ``vision-retrain`` (:mod:`graphforget.exact.retrain`) and FT, GA, NegGrad+, RL,
  ℓ1-sparse, SalUn, SCRUB, Fisher forgetting, Boundary Shrink / Expand
  (:mod:`graphforget.approx.finetune`, ...);
* :mod:`~graphforget.vision.task`: the ``vision`` benchmark task.

The evaluation protocol lives in :mod:`graphforget.metrics.forgetting`.
"""

from graphforget._moved import lazy_exports
from graphforget.vision.base import VisionApproximateUnlearner, VisionUnlearner
from graphforget.vision.data import as_images, image_shape, load_vision, sample_class_request
from graphforget.vision.models import LeNet, ResNet18, VisionMLP, build_vision_model

_METHODS = {
    "VisionRetrain": "graphforget.exact.retrain",
    "FineTune": "graphforget.approx.finetune",
    "VisionGradientAscent": "graphforget.approx.vision_gradient_ascent",
    "NegGradPlus": "graphforget.approx.neggrad_plus",
    "RandomLabel": "graphforget.approx.random_label",
    "L1Sparse": "graphforget.approx.l1_sparse",
    "SalUn": "graphforget.approx.salun",
    "SCRUB": "graphforget.approx.scrub",
    "FisherForgetting": "graphforget.approx.fisher",
    "BoundaryShrink": "graphforget.approx.boundary_shrink",
    "BoundaryExpand": "graphforget.approx.boundary_expand",
}
__getattr__ = lazy_exports(__name__, _METHODS)

__all__ = [
    "VisionUnlearner", "VisionApproximateUnlearner", *_METHODS, "VisionMLP", "LeNet", "ResNet18",
    "build_vision_model", "as_images", "image_shape", "load_vision", "sample_class_request",
]
