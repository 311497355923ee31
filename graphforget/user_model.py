r"""Bring your own model: the adapter between a user's ``torch.nn.Module`` and the methods.

Every method that holds one GNN accepts, as ``model=``,

* a registered backbone name (``"gcn"``, ...: :func:`graphforget.models.build_model`);
* a ``torch.nn.Module`` **instance**: a *template*. Whenever the method trains a model
  from scratch (``fit``, the retrain reference, a shard) it deep-copies the template and
  re-initialises it under the method's seed (``reset_parameters()`` of every submodule
  that has one, as every PyG layer does); the template itself is never changed. To keep
  the weights a user trained, call :meth:`~graphforget.Unlearner.attach` instead;
* a zero-argument **factory** returning a fresh module (called under the method's seed).

Inside a method the user's module is wrapped in :class:`UserModel`, which owns the very
same parameter objects (so updating it updates the user's model in place) and runs it
on a :class:`~torch_geometric.data.Data` either as ``module(x, edge_index)`` (plus
``edge_weight=`` when the data has edge weights) or through ``forward_fn(module, data)``.
Inputs are moved to the model's device and floating features cast to its dtype; outputs
come back on the data's device, so a CUDA model stays on CUDA and a float64 model
computes in float64.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import MessagePassing

from graphforget.errors import GraphForgetError

__all__ = ["UserModel", "ForwardFn", "TrainFn", "LossFn", "is_user_model", "describe_model",
           "message_passing_layers", "message_passing_hops", "fresh_module", "check_factory",
           "probe_forward", "preserve_modes", "resolve_dtype"]

ForwardFn = Callable[[nn.Module, Data], Tensor]
TrainFn = Callable[[nn.Module, Data], None]
LossFn = Callable[[nn.Module, Data, Tensor], Tensor]


def is_user_model(spec: Any) -> bool:
    """Whether ``model=`` names a user model (a module or a factory), not a backbone name."""
    return not isinstance(spec, str)


def describe_model(spec: Any) -> str:
    """A short name of a model spec for messages (``"MyGNN"``, ``"factory make_gnn"``)."""
    if isinstance(spec, str):
        return repr(spec)
    if isinstance(spec, nn.Module):
        return type(spec).__name__
    return f"factory {getattr(spec, '__qualname__', type(spec).__name__)}"


def resolve_dtype(dtype: Any) -> torch.dtype | None:
    """``None``, a ``torch.dtype`` or its name (``"float64"``, ``"torch.float64"``)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).removeprefix("torch.")
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise GraphForgetError(f"dtype must be a floating torch dtype such as 'float64', got {dtype!r}")
    return value


def message_passing_layers(module: nn.Module) -> list[MessagePassing]:
    """The outermost :class:`~torch_geometric.nn.MessagePassing` layers of ``module``, in
    registration order (a layer nested inside another one is not listed)."""
    if isinstance(module, MessagePassing):
        return [module]
    out: list[MessagePassing] = []

    def visit(m: nn.Module) -> None:
        for child in m.children():
            if isinstance(child, MessagePassing):
                out.append(child)
            else:
                visit(child)

    visit(module)
    return out


def message_passing_hops(module: nn.Module) -> int:
    """How many hops the module's output can depend on: one per message-passing layer, or
    its ``K`` (SGC, APPNP, TAG, ...). Layers in parallel branches count as if stacked,
    which over-estimates (a larger neighbourhood is safe)."""
    return sum(max(1, int(getattr(layer, "K", 1))) for layer in message_passing_layers(module))


def _reset(module: nn.Module) -> None:
    for m in module.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()


def fresh_module(spec: nn.Module | Callable[[], nn.Module]) -> nn.Module:
    """A fresh, untrained module from a template instance (deep copy + ``reset_parameters``)
    or a factory. Seed the call (:func:`graphforget.training.seeded`) for reproducibility."""
    if isinstance(spec, nn.Module):
        module = copy.deepcopy(spec)
        with torch.no_grad():
            _reset(module)
        return module
    module = spec()
    if not isinstance(module, nn.Module):
        raise GraphForgetError(f"the model factory {describe_model(spec)} must return a torch.nn.Module, "
                               f"got {type(module).__name__}")
    return module


def check_factory(spec: Callable[[], nn.Module]) -> nn.Module:
    """Calls a factory twice and rejects one that returns the same module (or shares
    parameters) across calls: every shard and every retraining needs a fresh model.
    Returns the first module."""
    if not callable(spec):
        raise GraphForgetError(f"model must be a backbone name, a torch.nn.Module or a zero-argument "
                               f"factory, got {type(spec).__name__}")
    try:
        first, second = fresh_module(spec), fresh_module(spec)
    except GraphForgetError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code; name what failed
        raise GraphForgetError(f"the model factory {describe_model(spec)} failed: "
                               f"{type(exc).__name__}: {_first_line(exc)}") from None
    shared = {id(p) for p in first.parameters()} & {id(p) for p in second.parameters()}
    if first is second or shared:
        raise GraphForgetError(f"the model factory {describe_model(spec)} returned the same "
                               f"{type(first).__name__} instance (or shared parameters) twice; "
                               "it must build a new module on every call")
    return first


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


@contextlib.contextmanager
def preserve_modes(module: nn.Module) -> Iterator[None]:
    """Restores every submodule's ``training`` flag and every parameter's
    ``requires_grad`` flag on exit (the user's model comes back in the mode it was in)."""
    modes = [(m, m.training) for m in module.modules()]
    grads = [(p, p.requires_grad) for p in module.parameters()]
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


def _anchor(module: nn.Module) -> Tensor | None:
    for t in module.parameters():
        return t
    for t in module.buffers():
        return t
    return None


def _move(data: Data, anchor: Tensor | None) -> Data:
    """``data`` with tensors on the anchor's device and floating features in its dtype
    (``data`` itself when nothing needs to change)."""
    if anchor is None:
        return data
    x = getattr(data, "x", None)
    same_device = x is None or x.device == anchor.device
    same_dtype = x is None or not x.is_floating_point() or x.dtype == anchor.dtype
    if same_device and same_dtype:
        return data
    out = data.to(anchor.device) if not same_device else copy.copy(data)
    if x is not None and x.is_floating_point():
        out.x = out.x.to(anchor.dtype)
    ew = getattr(out, "edge_weight", None)
    if ew is not None and ew.is_floating_point():
        out.edge_weight = ew.to(anchor.dtype)
    return out


def _call(module: nn.Module, data: Data, forward_fn: ForwardFn | None) -> Tensor:
    if forward_fn is not None:
        return forward_fn(module, data)
    ew = getattr(data, "edge_weight", None)
    if ew is not None:
        return module(data.x, data.edge_index, edge_weight=ew)
    return module(data.x, data.edge_index)


class UserModel(nn.Module):
    """Wraps a user's module so every method can run it on a ``Data``.

    The wrapped module is a registered child: its parameters are the user's own objects.

    Args:
        module: the user's ``torch.nn.Module``.
        forward_fn: ``forward_fn(module, data) -> Tensor``; ``None`` calls
            ``module(data.x, data.edge_index)`` (``edge_weight=`` added when present).
    """

    def __init__(self, module: nn.Module, forward_fn: ForwardFn | None = None) -> None:
        super().__init__()
        self.module = module
        self.forward_fn = forward_fn

    @property
    def convs(self) -> list[MessagePassing]:
        """The user's message-passing layers (:func:`message_passing_layers`)."""
        return message_passing_layers(self.module)

    def run(self, data: Data) -> Tensor:
        """The module's output on ``data`` (on ``data``'s device)."""
        moved = _move(data, _anchor(self.module))
        out = _call(self.module, moved, self.forward_fn)
        x = getattr(data, "x", None)
        if isinstance(out, Tensor) and x is not None and out.device != x.device:
            out = out.to(x.device)
        return out

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        data = Data(x=x, edge_index=edge_index, num_nodes=x.size(0))
        if edge_weight is not None:
            data.edge_weight = edge_weight
        return self.run(data)


def probe_forward(module: nn.Module, data: Data, forward_fn: ForwardFn | None) -> Tensor:
    """Runs ``module`` once on ``data`` in eval mode without gradients (modes restored,
    no weight or buffer changed) and checks that it returns one row per node.

    Raises:
        GraphForgetError: the forward does not accept the data or returns the wrong shape.
    """
    call = "forward_fn(model, data)" if forward_fn is not None else (
        "forward(x, edge_index, edge_weight=...)" if getattr(data, "edge_weight", None) is not None
        else "forward(x, edge_index)")
    try:
        signature = str(inspect.signature(module.forward))
    except (TypeError, ValueError):
        signature = "(...)"
    name = f"{type(module).__name__}.forward{signature}"
    with preserve_modes(module), torch.no_grad():
        module.eval()
        try:
            out = UserModel(module, forward_fn).run(data)
        except Exception as exc:  # noqa: BLE001 - the user's code; name what failed
            raise GraphForgetError(
                f"{name} cannot be called as {call} on this data ({type(exc).__name__}: "
                f"{_first_line(exc)}); pass forward_fn=lambda model, data: ... to adapt it") from None
    if not isinstance(out, Tensor) or out.dim() != 2 or out.size(0) != data.num_nodes:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise GraphForgetError(f"{name} must return one row per node ([{data.num_nodes}, channels]), "
                               f"got {shape}; pass forward_fn= to adapt it")
    return out
