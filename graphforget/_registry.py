"""Name registries and the resolver used by the CLI and configs.

Names resolve case-, dash- and underscore-insensitively (``GraphEraser``,
``graph-eraser`` and ``graph_eraser`` are the same name), as PyG's resolver does.
Method modules register themselves with :func:`register_method`; every module of
the package is imported on first lookup so that "every installed method" is known
without a hand-kept list.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from graphforget.errors import UnknownNameError, UnsupportedModelError

T = TypeVar("T")

_METHODS: dict[str, type] = {}
_DISPLAY: dict[str, str] = {}
_discovered = False

# Modules never imported by discovery (CLI entry points, test helpers).
_SKIP = ("graphforget.bench.cli", "graphforget.__main__")


def normalize(name: str) -> str:
    """Canonical form of a user-facing name."""
    return "".join(ch for ch in str(name).lower() if ch not in "-_ ")


def register_method(name: str, *aliases: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: makes an :class:`~graphforget.Unlearner` available by name."""

    def deco(cls: type[T]) -> type[T]:
        for n in (name, *aliases):
            key = normalize(n)
            if key in _METHODS and _METHODS[key] is not cls:
                raise RuntimeError(f"method name {n!r} registered twice")
            _METHODS[key] = cls
        _DISPLAY[normalize(name)] = name
        cls.method_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def discover() -> None:
    """Imports every module of the package once, so that all methods register."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package_dir = os.path.dirname(os.path.abspath(__file__))
    for info in pkgutil.walk_packages([package_dir], prefix="graphforget."):
        if info.name.startswith(_SKIP) or ".tests" in info.name:
            continue
        importlib.import_module(info.name)


def method_names() -> list[str]:
    """The primary names of every registered method, sorted."""
    discover()
    return sorted(_DISPLAY.values())


def resolve(name: str, choices: dict[str, T], what: str) -> T:
    """Looks ``name`` up in ``choices`` (keys already normalised) with a helpful error."""
    key = normalize(name)
    if key in choices:
        return choices[key]
    listing = ", ".join(sorted(choices))
    raise UnknownNameError(f"unknown {what} {name!r}; choose one of: {listing}")


def resolve_method(name: str | type) -> type:
    """Returns the Unlearner class registered under ``name``."""
    if isinstance(name, type):
        return name
    discover()
    key = normalize(name)
    if key in _METHODS:
        return _METHODS[key]
    listing = ", ".join(method_names())
    raise UnknownNameError(f"unknown method {name!r}; choose one of: {listing}")


def reference_from_registry(unlearner: Any, name: str, **overrides: Any) -> Any:
    """An unfitted instance of the method registered as ``name`` (a task's retrain
    reference), built from the parameters it shares with ``unlearner``.

    Base classes name their reference (``reference_method``) instead of importing it, so
    no base module imports the methods built on it.
    """
    cls = resolve_method(name)
    params = unlearner.get_params(deep=False)
    shared = {k: v for k, v in params.items() if k in cls.param_names()}
    shared.update(overrides)
    return cls(**shared)


def make_method(name: str | type, **params: Any) -> Any:
    """Instantiates a registered method, accepting only parameters its ``__init__`` knows."""
    cls = resolve_method(name)
    known = set(cls.param_names())
    refusal = getattr(cls, "user_model_error", None)
    if callable(refusal) and params.get("model") is not None and not isinstance(params["model"], str):
        # a method that keeps its own (linear) model names why it cannot take the user's one
        raise refusal(params["model"])
    unknown = sorted(set(params) - known)
    if unknown:
        raise UnknownNameError(
            f"{cls.__name__} has no parameter(s) {unknown}; known: {sorted(known)}")
    supported = getattr(cls, "supported_models", None)
    model = params.get("model")
    if supported is not None and isinstance(model, str) \
            and normalize(model) not in {normalize(m) for m in supported}:
        raise UnsupportedModelError(
            f"{getattr(cls, 'method_name', cls.__name__)} does not support model {model!r}; "
            f"supported models: {', '.join(supported)}")
    return cls(**params)
