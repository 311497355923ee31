"""graphforget: machine unlearning for PyTorch Geometric.

The public names below are imported on first access (PEP 562), so that
``import graphforget`` (and the command line's ``--help`` and ``list``) does not pay
for torch and torch_geometric until something needs them.
"""

from graphforget import _moved
from graphforget.errors import (
    GraphForgetError,
    InvalidRequestError,
    JobFailedError,
    MissingDependencyError,
    NotFittedError,
    SolverError,
    UnknownNameError,
    UnsupportedModelError,
    UnsupportedRequestError,
)

_moved.install()  # old import paths of moved methods keep working

_LAZY = {
    "Retrain": "graphforget.exact.retrain",
    "make_method": "graphforget._registry", "method_names": "graphforget._registry",
    "register_method": "graphforget._registry", "resolve_method": "graphforget._registry",
    "load_dataset": "graphforget.data",
    "GNNUnlearner": "graphforget.gnn",
    "EdgeRequest": "graphforget.requests", "FeatureRequest": "graphforget.requests",
    "ForgetRequest": "graphforget.requests", "NodeRequest": "graphforget.requests",
    "SampleRequest": "graphforget.requests",
    "Guarantee": "graphforget.unlearner", "Task": "graphforget.unlearner",
    "Unlearner": "graphforget.unlearner", "UnlearnReport": "graphforget.unlearner",
}
__getattr__ = _moved.lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "Unlearner", "UnlearnReport", "Guarantee", "Task", "GNNUnlearner", "Retrain",
    "ForgetRequest", "NodeRequest", "EdgeRequest", "FeatureRequest", "SampleRequest",
    "load_dataset", "register_method", "resolve_method", "make_method", "method_names",
    "GraphForgetError", "InvalidRequestError", "UnsupportedRequestError", "NotFittedError",
    "UnknownNameError", "UnsupportedModelError", "SolverError", "JobFailedError", "MissingDependencyError",
    "__version__",
]
