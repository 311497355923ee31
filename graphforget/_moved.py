"""Import paths that moved when methods were grouped by guarantee (``exact/``,
``certified/``, ``approx/``), kept working in one place.

``MOVED_MODULES`` maps an old module path to its new one: ``import graphforget.retrain``
or ``from graphforget.general.dare import DaRE`` still work, and give the very objects of
the new module. ``lazy_exports`` lets a task package re-export the methods that left it
(``from graphforget.general import DaRE``) without importing them at package import, so
that no task package and method module import each other in a circle.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

MOVED_MODULES: dict[str, str] = {
    "graphforget.retrain": "graphforget.exact.retrain",
    "graphforget.exact._sharded": "graphforget.exact.sharded",
    "graphforget.approx.cgu": "graphforget.certified.cgu",
    "graphforget.approx.gst": "graphforget.certified.gst",
    "graphforget.general.cao_yang": "graphforget.exact.cao_yang",
    "graphforget.general.dare": "graphforget.exact.dare",
    "graphforget.general.kmeans": "graphforget.exact.kmeans",
    "graphforget.general.certified_removal": "graphforget.certified.certified_removal",
    "graphforget.general.sekhari": "graphforget.certified.sekhari",
    "graphforget.general.descent_to_delete": "graphforget.certified.descent_to_delete",
    "graphforget.general.jackknife": "graphforget.approx.jackknife",
    "graphforget.general.deltagrad": "graphforget.approx.deltagrad",
    "graphforget.general.pru": "graphforget.approx.pru",
    "graphforget.general.feature_label": "graphforget.approx.feature_label",
    "graphforget.recommendation.receraser": "graphforget.exact.receraser",
    "graphforget.federated.fedlu": "graphforget.approx.fedlu",
    "graphforget.vision.methods": "graphforget.vision.base",
}

# Names an old module exported that now live in another new module.
_EXTRA_NAMES: dict[str, dict[str, str]] = {
    "graphforget.general.kmeans": {"QKMeans": "graphforget.exact.q_kmeans",
                                   "DCKMeans": "graphforget.exact.dc_kmeans"},
    "graphforget.exact._sharded": {"GraphEraser": "graphforget.exact.grapheraser",
                                   "SISA": "graphforget.exact.sisa"},
    "graphforget.recommendation.receraser": {
        "RecommendationRetrain": "graphforget.exact.retrain"},
    "graphforget.federated.fedlu": {"FederatedRetrain": "graphforget.exact.retrain"},
    "graphforget.vision.methods": {
        name: f"graphforget.approx.{module}" for name, module in (
            ("FineTune", "finetune"), ("VisionGradientAscent", "vision_gradient_ascent"),
            ("NegGradPlus", "neggrad_plus"), ("RandomLabel", "random_label"),
            ("L1Sparse", "l1_sparse"), ("SalUn", "salun"), ("SCRUB", "scrub"),
            ("FisherForgetting", "fisher"), ("BoundaryShrink", "boundary_shrink"),
            ("BoundaryExpand", "boundary_expand"))},
}


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves an old module path as a module holding the new module's names."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: Any) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        new = importlib.import_module(MOVED_MODULES[module.__name__])
        public = {k: v for k, v in vars(new).items() if not k.startswith("__")}
        module.__dict__.update(public)
        for name, where in _EXTRA_NAMES.get(module.__name__, {}).items():
            module.__dict__[name] = getattr(importlib.import_module(where), name)
        module.__doc__ = f"Moved: see :mod:`{new.__name__}`."


def install() -> None:
    """Puts the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())


def lazy_exports(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) resolving ``names[attr]`` (a module path) on
    first access."""

    def __getattr__(attr: str) -> Any:
        if attr in names:
            return getattr(importlib.import_module(names[attr]), attr)
        raise AttributeError(f"module {package!r} has no attribute {attr!r}")

    return __getattr__
