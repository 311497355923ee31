"""graphforget: machine unlearning for PyTorch Geometric."""

from graphforget._registry import make_method, method_names, register_method, resolve_method
from graphforget.data import load_dataset
from graphforget.errors import (
    GraphForgetError,
    InvalidRequestError,
    JobFailedError,
    MissingDependencyError,
    NotFittedError,
    SolverError,
    UnknownNameError,
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
from graphforget.retrain import Retrain
from graphforget.unlearner import Guarantee, Task, Unlearner, UnlearnReport

__version__ = "0.1.0"

__all__ = [
    "Unlearner", "UnlearnReport", "Guarantee", "Task", "GNNUnlearner", "Retrain",
    "ForgetRequest", "NodeRequest", "EdgeRequest", "FeatureRequest", "SampleRequest",
    "load_dataset", "register_method", "resolve_method", "make_method", "method_names",
    "GraphForgetError", "InvalidRequestError", "UnsupportedRequestError", "NotFittedError",
    "UnknownNameError", "SolverError", "JobFailedError", "MissingDependencyError", "__version__",
]
