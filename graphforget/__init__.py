"""graphforget: machine unlearning for PyTorch Geometric."""

from graphforget import _moved
from graphforget._registry import make_method, method_names, register_method, resolve_method
from graphforget.data import load_dataset
from graphforget.errors import (
    GraphForgetError,
    InvalidRequestError,
    NotFittedError,
    SolverError,
    UnknownNameError,
    UnsupportedModelError,
    UnsupportedRequestError,
)
from graphforget.gnn import GNNUnlearner
from graphforget.requests import (
    EdgeRequest,
    FeatureRequest,
    ForgetRequest,
    NodeRequest,
    SampleRequest,
)
from graphforget.unlearner import Guarantee, Task, Unlearner, UnlearnReport

_moved.install()  # old import paths of moved methods keep working
__getattr__ = _moved.lazy_exports(__name__, {"Retrain": "graphforget.exact.retrain"})

__version__ = "0.1.0"

__all__ = [
    "Unlearner", "UnlearnReport", "Guarantee", "Task", "GNNUnlearner", "Retrain",
    "ForgetRequest", "NodeRequest", "EdgeRequest", "FeatureRequest", "SampleRequest",
    "load_dataset", "register_method", "resolve_method", "make_method", "method_names",
    "GraphForgetError", "InvalidRequestError", "UnsupportedRequestError", "NotFittedError",
    "UnknownNameError", "UnsupportedModelError", "SolverError", "__version__",
]
