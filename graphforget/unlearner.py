r"""The :class:`Unlearner` contract shared by every method.

An unlearner behaves like a scikit-learn estimator with torch inside:

* hyper-parameters are explicit keyword arguments of ``__init__``, stored unchanged
  (:meth:`Unlearner.get_params` / :meth:`Unlearner.set_params` / :meth:`Unlearner.clone`);
* :meth:`Unlearner.fit` trains the original model and returns ``self``; learned state
  ends in ``_``;
* :meth:`Unlearner.unlearn` forgets a :class:`~graphforget.requests.ForgetRequest` in
  place and returns an :class:`UnlearnReport`. Requests may come one after another
  (sequential deletion) or many items at once (a batch is one request with many ids).

The base class does the bookkeeping every method needs, so that a method only
implements ``_fit`` and ``_unlearn``: it rejects unsupported and invalid requests
*before* any state is touched, treats an empty request as the identity, keeps the
current retained data in ``data_`` (which is also the graph used for inference, so
forgotten items never reach a prediction), times the call and saves/loads state
without pickled code.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import hmac
import inspect
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._hints import hint_rows
from graphforget._registry import reference_from_registry
from graphforget.errors import (
    GraphForgetError,
    NotFittedError,
    UnsupportedRequestError,
)
from graphforget.requests import ForgetRequest, request_from_dict

__all__ = [
    "Guarantee",
    "Task",
    "UnlearnReport",
    "Unlearner",
    "data_to_state",
    "data_from_state",
    "state_fingerprint",
    "ForgottenDigest",
    "hint_rows",
]

FORMAT_VERSION = 2  # 2: data referenced by fingerprint, forgotten requests as keyed digests


class ForgottenDigest:
    """A served request as a saved model file keeps it by default: its kind, its size and a
    digest (HMAC-SHA256 of the request's content hash under the file's salt, or under the
    user's key), never its ids. It counts as a served request (``len(history_)``), but it
    cannot be applied to new data: predicting on another graph needs the ids
    (``save(..., include_forgotten=True)``)."""

    def __init__(self, kind: str, items: int, digest: str) -> None:
        self.kind, self.items, self.digest = str(kind), int(items), str(digest)

    def __len__(self) -> int:
        return self.items

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "items": self.items, "digest": self.digest}

    def apply(self, data: Any, validate: bool = True) -> Any:
        raise GraphForgetError(
            "this unlearner was loaded from a file that keeps no forgotten ids, so it cannot remove "
            "them from new data: predict on its own retained graph (predict() without data), or save "
            "with include_forgotten=True")


def _digest(secret: bytes, request: ForgetRequest) -> str:
    return hmac.new(secret, request.content_hash().encode(), hashlib.sha256).hexdigest()


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes) or not key:
        raise GraphForgetError("key must be a non-empty str or bytes")
    return key


def _signature(key: bytes, config: dict[str, Any]) -> str:
    payload = json.dumps({k: v for k, v in config.items() if k != "signature"}, sort_keys=True)
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _request_state(request: Any) -> dict[str, Any]:
    """``request.to_dict()``, computed once per request object (a served request does not
    change; a ledger fingerprints the history after every request, so rebuilding every
    dict would make each fingerprint cost the length of the stream). A shallow copy is
    returned, so a caller that edits the dict cannot alter the cache."""
    cached = request.__dict__.get("_state_dict") if hasattr(request, "__dict__") else None
    if cached is None:
        cached = request.to_dict()
        with contextlib.suppress(AttributeError, TypeError):
            request.__dict__["_state_dict"] = cached
    return dict(cached)


def _data_state(data: Any) -> Any:
    """A task's data as a plain state (graph datasets bring their own ``to_state``)."""
    if data is None:
        return None
    return data.to_state() if hasattr(data, "to_state") and not isinstance(data, Data) else data_to_state(data)


def with_forgotten_mask(data: Data) -> Data:
    """``data`` as :meth:`Unlearner.fit` takes it: with an all-false ``forgotten_mask`` when
    it has none, added to a new ``Data`` over the same tensors (requests never write to
    their input, they copy), so a large graph is not copied."""
    if getattr(data, "forgotten_mask", None) is not None:
        return data
    out = copy.copy(data)
    out.forgotten_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    return out


class Guarantee(str, Enum):
    """What an unlearner promises about its post-deletion model."""

    EXACT = "exact"  #: equals retraining on the retained data (same seed)
    CERTIFIED = "certified"  #: (epsilon, delta)-indistinguishable from retraining
    APPROXIMATE = "approximate"  #: moves toward retraining, no formal bound


class Task(str, Enum):
    """Learning tasks an unlearner can serve."""

    NODE = "node"  #: node classification
    LINK = "link"  #: link prediction
    GRAPH = "graph"  #: graph classification
    RECOMMENDATION = "recommendation"
    KG = "kg"  #: knowledge-graph completion
    TABULAR = "tabular"
    VISION = "vision"


#: how error messages name the tasks whose value is not self-explanatory
TASK_NAMES = {"node": "node classification", "link": "link prediction", "graph": "graph classification"}


@dataclass
class UnlearnReport:
    """What one call to :meth:`Unlearner.unlearn` did.

    Attributes:
        request: the request served.
        method: the method's registered name.
        guarantee: the method's guarantee.
        seconds: wall-clock seconds of the whole call (everything the user waits for).
        breakdown: seconds per phase (method-specific keys).
        affected: what was touched, e.g. ``{"nodes": 12, "shards": [3]}``.
        diagnostics: method-specific figures (residuals, bounds, budgets, ...).
        noop: ``True`` for an empty request (the identity).
    """

    request: ForgetRequest
    method: str
    guarantee: str
    seconds: float = 0.0
    breakdown: dict[str, float] = field(default_factory=dict)
    affected: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    noop: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "guarantee": self.guarantee,
            "request": {"kind": self.request.kind, "items": len(self.request),
                        "hash": self.request.content_hash()},
            "seconds": self.seconds, "breakdown": dict(self.breakdown),
            "affected": _jsonable(self.affected), "diagnostics": _jsonable(self.diagnostics),
            "noop": self.noop,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


# ---------------------------------------------------------------------------
# state helpers
# ---------------------------------------------------------------------------
def data_to_state(data: Data | None) -> dict[str, Any] | None:
    """A ``Data`` as a plain dict (tensors and numbers), loadable with ``weights_only``."""
    if data is None:
        return None
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, (Tensor, int, float, bool, str)) or value is None:
            out[key] = value
    if "num_nodes" not in out and data.num_nodes is not None:
        out["num_nodes"] = int(data.num_nodes)
    return out


def data_from_state(state: dict[str, Any] | None) -> Data | None:
    """Inverse of :func:`data_to_state`."""
    if state is None:
        return None
    return Data(**state)


def _hash_into(h: Any, value: Any) -> None:
    if isinstance(value, Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.dtype == torch.bfloat16:
            t = t.float()
        h.update(t.numpy().tobytes())
    elif isinstance(value, dict):
        h.update(b"{")
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _hash_into(h, value[k])
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"[")
        for v in value:
            _hash_into(h, v)
        h.update(b"]")
    elif isinstance(value, np.ndarray):
        _hash_into(h, torch.from_numpy(np.ascontiguousarray(value)))
    else:
        h.update(repr(value).encode())


def state_fingerprint(state: Any) -> str:
    """SHA-256 over every tensor's bytes and every value of a (nested) state dict."""
    h = hashlib.sha256()
    _hash_into(h, state)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# the contract
# ---------------------------------------------------------------------------
class _class_or_instance:
    """A method that receives its class and, called on an instance, that instance (else
    ``None``): :meth:`Unlearner.supports` answers for a class and for a fitted unlearner."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    def __get__(self, obj: Any, owner: type) -> Any:
        return functools.partial(self.func, owner, obj)


class Unlearner:
    """Base class of every unlearning method.

    Subclasses set the class-level declarations and implement ``_fit``, ``_unlearn``,
    ``_logits`` and, for save/load, ``_get_state`` / ``_set_state``.

    Class attributes:
        guarantee: :class:`Guarantee`.
        supported_requests: request classes served (subclasses of those count too).
        task_requests: where a kind is served on some tasks only, the request classes
            served on each restricted task (``{"node": (NodeRequest,)}``); a task not
            named serves all of ``supported_requests``.
        tasks: :class:`Task` values served.
        noise_parameter: name of the ``__init__`` argument that scales the noise of a
            certified method (the conformance suite checks that it changes the model).
        supported_models: backbone names the method works with (``None`` = any).
        reference_method: registered name of the exact reference :meth:`reference` builds.
    """

    method_name: ClassVar[str] = "unlearner"
    guarantee: ClassVar[Guarantee] = Guarantee.APPROXIMATE
    supported_requests: ClassVar[tuple[type[ForgetRequest], ...]] = ()
    task_requests: ClassVar[dict[str, tuple[type[ForgetRequest], ...]]] = {}
    tasks: ClassVar[tuple[Task, ...]] = (Task.NODE,)
    noise_parameter: ClassVar[str | None] = None
    supported_models: ClassVar[tuple[str, ...] | None] = None
    reference_method: ClassVar[str] = "retrain"

    # -- parameters (scikit-learn conventions) ---------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        names: list[str] = []
        for klass in cls.__mro__:
            if klass is object or "__init__" not in klass.__dict__:
                continue
            sig = inspect.signature(klass.__init__)
            var_kw = False
            for p in list(sig.parameters.values())[1:]:
                if p.kind == p.VAR_KEYWORD:
                    var_kw = True
                elif p.kind != p.VAR_POSITIONAL and p.name not in names:
                    names.append(p.name)
            if not var_kw:
                break
        return names

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as stored (scikit-learn's protocol).

        Args:
            deep: also return the parameters of parameters that are estimators
                themselves, as ``name__key`` (as :meth:`sklearn.base.BaseEstimator.get_params`).
                (default: :obj:`True`)
        """
        out: dict[str, Any] = {}
        for name in self.param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Unlearner:
        """Sets constructor arguments (``name__key`` reaches into a nested estimator, as
        scikit-learn's :meth:`~sklearn.base.BaseEstimator.set_params`) and returns ``self``.
        Unknown names fail before anything is set."""
        known = set(self.param_names())
        nested: dict[str, dict[str, Any]] = {}
        for key in params:
            name, sep, sub = key.partition("__")
            if name not in known:
                raise GraphForgetError(
                    f"{type(self).__name__} has no parameter {name!r}; known: {sorted(known)}")
            if sep:
                if not hasattr(getattr(self, name), "set_params"):
                    raise GraphForgetError(
                        f"{type(self).__name__}.{name} has no nested parameters (got {key!r})")
                nested.setdefault(name, {})[sub] = params[key]
        for key, value in params.items():
            if "__" not in key:
                setattr(self, key, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def clone(self, **overrides: Any) -> Unlearner:
        """A fresh, unfitted unlearner with the same parameters (plus ``overrides``)."""
        params = self.get_params(deep=False)
        params.update(overrides)
        return type(self)(**params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    # -- declarations ------------------------------------------------------------
    @_class_or_instance
    def supports(cls, self: Unlearner | None, request: ForgetRequest | type[ForgetRequest],
                 task: str | None = None) -> bool:
        """Whether this method serves requests of this kind: on ``task`` (``"node"``,
        ``"link"``, ...) where given, on a fitted unlearner the task it was fitted for, else
        on any of its tasks (a method may serve a kind on one task only,
        :attr:`task_requests`)."""
        rtype = request if isinstance(request, type) else type(request)
        return any(issubclass(rtype, s) for s in cls.requests_for(self._task() if task is None and
                                                                   self is not None else task))

    @classmethod
    def requests_for(cls, task: str | None = None) -> tuple[type[ForgetRequest], ...]:
        """The request kinds served on ``task`` (all of :attr:`supported_requests` when
        ``task`` is None or not restricted by :attr:`task_requests`)."""
        return tuple(cls.task_requests.get(str(task), cls.supported_requests) if task else cls.supported_requests)

    def _task(self) -> str | None:
        """The task this unlearner was fitted for, where it serves several (else None)."""
        return getattr(self, "task_", None)

    def _check_supported(self, request: Any) -> None:
        if not isinstance(request, ForgetRequest):
            raise TypeError(
                f"unlearn() expects a ForgetRequest, got {type(request).__name__}")
        if not self.supports(request):
            task = self._task()
            kinds = ", ".join(s.kind for s in self.requests_for(task)) or "none"
            where = f" on {TASK_NAMES.get(task, f'the {task} task')}" if task and task in self.task_requests else ""
            raise UnsupportedRequestError(
                f"{self.method_name} cannot serve {request.kind} requests{where}; it supports: {kinds}")

    # -- lifecycle ---------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return getattr(self, "data_", None) is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(data) first")

    def _check_data(self, data: Data) -> None:
        """Validates training data before fitting (override for other tasks)."""
        if not isinstance(data, Data):
            raise TypeError(f"fit() expects a torch_geometric.data.Data, got {type(data).__name__}")
        if data.num_nodes is None or data.num_nodes == 0:
            raise GraphForgetError("fit() got data with no nodes")

    def fit(self, data: Data) -> Unlearner:
        """Trains the original model on ``data`` and returns ``self``."""
        self._check_data(data)
        data = with_forgotten_mask(data)
        previous = dict(self.__dict__)  # a failing fit (e.g. the user's train_fn) changes nothing
        try:
            self.history_: list[ForgetRequest] = []
            start = time.perf_counter()
            self._fit(data)
            self.fit_seconds_ = time.perf_counter() - start
            self.data_ = data
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise
        return self

    def attach(self, model: torch.nn.Module, data: Data) -> Unlearner:
        """Adopts a model the user already trained on ``data`` (no refit); methods that
        never train from scratch implement it (see ``docs/own_model.md``)."""
        raise GraphForgetError(
            f"{self.method_name} cannot attach to a trained {type(model).__name__}: it keeps or trains "
            f"its own models (construct it with model=<factory>, train_fn= where supported, and call fit)")

    @contextlib.contextmanager
    def _model_guard(self) -> Iterator[None]:
        """Wraps the method's work on its model (attached user models restore their modes)."""
        yield

    def unlearn(self, request: ForgetRequest) -> UnlearnReport:
        """Forgets ``request`` in place and reports what was done.

        Raises (before touching any state):
            TypeError: ``request`` is not a :class:`ForgetRequest`.
            UnsupportedRequestError: this method cannot serve the request's kind.
            InvalidRequestError: ids out of range, duplicated, already forgotten, ...
        """
        self._check_supported(request)
        self._check_fitted()
        start = time.perf_counter()
        if request.is_empty:
            return UnlearnReport(request, self.method_name, self.guarantee.value,
                                 seconds=time.perf_counter() - start, noop=True)
        self._validate_request(request)
        retained = self._retained(request)
        report = UnlearnReport(request, self.method_name, self.guarantee.value)
        with self._model_guard():
            self._unlearn(request, retained, report)
        self._commit_retained(request, retained)
        self.history_.append(request)
        report.seconds = time.perf_counter() - start
        return report

    # Three steps of unlearn that a method serving requests from its own state may take
    # over (ScaleGUN: no O(E) copy of the graph per request; see its docs).
    def _validate_request(self, request: ForgetRequest) -> None:
        request.validate(self.data_)

    def _retained(self, request: ForgetRequest) -> Data | None:
        """The data after ``request`` (``None`` where the method defers building it)."""
        return request.apply(self.data_, validate=False)

    def _commit_retained(self, request: ForgetRequest, retained: Data | None) -> None:
        self.data_ = retained

    def unlearn_many(self, requests: Iterable[ForgetRequest]) -> list[UnlearnReport]:
        """Serves requests one after another (sequential deletion)."""
        return [self.unlearn(r) for r in requests]

    # -- inference ---------------------------------------------------------------
    def inference_data(self, data: Data | None = None) -> Data:
        """The graph used for prediction: the retained data, or ``data`` with every
        request served so far applied to it (so forgotten items never reach inference)."""
        self._check_fitted()
        if data is None:
            return self.data_
        for request in self.history_:
            data = request.apply(data, validate=False)
        return data

    def predict_logits(self, data: Data | None = None) -> Tensor:
        """Raw outputs for every node (or sample) of the inference graph."""
        self._check_fitted()
        with torch.no_grad(), self._model_guard():
            return self._logits(self.inference_data(data))

    def predict(self, data: Data | None = None) -> Tensor:
        """Predicted labels for every node of the inference graph."""
        return self.predict_logits(data).argmax(dim=-1)

    def score(self, data: Data | None = None, mask: str | Tensor = "test_mask") -> float:
        """Micro-F1 (accuracy) on ``mask`` of the inference graph."""
        inf = self.inference_data(data)
        if isinstance(mask, str):
            key = mask if mask.endswith("_mask") else f"{mask}_mask"
            if getattr(inf, key, None) is None:
                raise GraphForgetError(f"data has no {key!r}")
            mask_t = inf[key]
        else:
            mask_t = mask
        pred = self.predict(data)
        from graphforget.metrics._utility import accuracy

        return accuracy(pred[mask_t], inf.y[mask_t])

    def parameter_vector(self) -> Tensor | None:
        """All trainable parameters flattened (``None`` when not one model)."""
        model = getattr(self, "model_", None)
        if isinstance(model, torch.nn.Module):
            params = [p.detach().reshape(-1) for p in model.parameters()]
            return torch.cat(params) if params else None
        return None

    def reference(self) -> Unlearner:
        """An unfitted unlearner whose fit on the retained data is the exact reference
        this method is compared with: the method registered as :attr:`reference_method`
        (the task's ``retrain``), built from the parameters the two share."""
        return reference_from_registry(self, self.reference_method)

    # -- subclass hooks -----------------------------------------------------------
    def _fit(self, data: Data) -> None:
        """Trains the original model (every method implements it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fit")

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        """Updates the model for ``request``. ``retained`` is the data after it; commit
        state only once every step succeeded (the base class then sets ``data_``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _unlearn")

    def _logits(self, data: Data) -> Tensor:
        """Raw outputs on ``data`` (every method implements it)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _logits")

    def _get_state(self) -> dict[str, Any]:
        """Method state (tensors, numbers, strings, nested dicts/lists)."""
        model = getattr(self, "model_", None)
        if isinstance(model, torch.nn.Module):
            return {"model": {k: v.clone() for k, v in model.state_dict().items()}}
        return {}

    def _set_state(self, state: dict[str, Any]) -> None:
        model = self._build_model()
        model.load_state_dict(state["model"])
        self.model_ = model

    def _build_model(self) -> torch.nn.Module:
        """An untrained backbone; needed only by methods that keep the default
        ``_get_state``/``_set_state`` (one ``model_``)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no single model_: override _set_state")

    # -- state, save and load -------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The complete learned state (what :meth:`save` writes)."""
        self._check_fitted()
        return {
            "data": _data_state(self.data_),
            "history": [_request_state(r) for r in self.history_],
            "method": self._get_state(),
        }

    def fingerprint(self) -> str:
        """A hash of the complete learned state (byte-level): the retained data, the method's
        state and the number and kinds of the requests served (their content is in the
        retained data and, for a ledger, in its hash-chained journal)."""
        self._check_fitted()
        return state_fingerprint({"data": _data_state(self.data_),
                                  "history": [(r.kind, len(r)) for r in self.history_],
                                  "method": self._get_state()})

    def save(self, path: str | os.PathLike, *, include_data: bool = False,
             include_forgotten: bool = False, key: str | bytes | None = None) -> Path:
        """Writes ``unlearner.json`` (method, parameters, fingerprints) and ``state.pt``
        (tensors) into the directory ``path``, both atomically.

        A model file is meant to travel, so by default it keeps no forgotten item: the
        retained data is referenced by its fingerprint (``load(path, data=...)`` takes it
        back and checks it), and each served request is kept as a keyed digest
        (:class:`ForgottenDigest`), not as ids.

        Args:
            include_data: embed the retained graph (it marks the forgotten nodes in
                ``forgotten_mask``, so it needs ``include_forgotten=True``).
            include_forgotten: keep the served requests with their ids (needed to predict
                on new data with the forgotten items removed, and by the deletion ledger).
            key: a secret; the file is then signed (HMAC-SHA256 over its config and
                fingerprints) and the digests are keyed by it. Without a key the
                fingerprints detect corruption, not tampering (see ``docs/trust.md``).
        """
        self._check_fitted()
        if include_data and not include_forgotten:
            raise GraphForgetError("include_data=True embeds the retained graph, whose forgotten_mask marks "
                                   "the forgotten nodes: pass include_forgotten=True as well")
        secret = _key_bytes(key)
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        params = _jsonable(_user_params_to_markers(self.get_params(deep=False)))
        state = self.get_state()
        data_fingerprint = state_fingerprint(state["data"])
        salt = os.urandom(16).hex()
        if not include_data:
            state["data"] = None
        if not include_forgotten:
            digest_key = secret if secret is not None else bytes.fromhex(salt)
            state["history"] = [r.to_dict() if isinstance(r, ForgottenDigest) else
                                ForgottenDigest(r.kind, len(r), _digest(digest_key, r)).to_dict()
                                for r in self.history_]
        try:
            # The fingerprints let load() detect corrupted files (torch.load does not
            # notice most flipped bytes inside tensor data).
            config = {"format": FORMAT_VERSION, "method": self.method_name,
                      "class": f"{type(self).__module__}.{type(self).__qualname__}",
                      "params": params, "fingerprint": state_fingerprint(state),
                      "params_fingerprint": state_fingerprint(params),
                      "data_fingerprint": data_fingerprint,
                      "contains": {"data": bool(include_data), "forgotten_ids": bool(include_forgotten)},
                      "salt": None if secret is not None else salt}
            if secret is not None:
                config["signature"] = _signature(secret, config)
            text = json.dumps(config, indent=2, sort_keys=True)
        except TypeError as exc:
            raise GraphForgetError(f"parameters of {self.method_name} are not JSON-serialisable: {exc}") from None
        _atomic_write(folder / "state.pt", lambda f: torch.save(state, f))
        _atomic_write(folder / "unlearner.json", lambda f: f.write(text.encode()))
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, data: Any = None, key: str | bytes | None = None,
             **user: Any) -> Unlearner:
        """Restores an unlearner written by :meth:`save` (no pickled code is executed).

        Args:
            data: the retained data the unlearner was saved with, when the file does not
                embed it (the default); checked against the file's data fingerprint.
            key: the secret the file was signed with; the signature is then verified
                (a file signed with another key, or not signed, is refused).
            user: an unlearner around the user's own model saves its weights, never its
                code: pass the code back, ``Unlearner.load(path, data, model=factory,
                train_fn=..., forward_fn=...)`` (each one the unlearner was saved with;
                the error names what is missing).
        """
        from graphforget._registry import resolve_method

        folder = Path(path)
        cfg_path, state_path = folder / "unlearner.json", folder / "state.pt"
        if not cfg_path.is_file() or not state_path.is_file():
            raise GraphForgetError(f"{folder} does not hold a saved unlearner "
                                   "(unlearner.json and state.pt expected)")
        try:
            config = json.loads(cfg_path.read_text())
            method, params = config["method"], config["params"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise GraphForgetError(f"corrupted {cfg_path}: {exc}") from None
        klass = resolve_method(method)
        if cls is not Unlearner and not issubclass(klass, cls):
            raise GraphForgetError(f"{folder} holds a {method!r} unlearner, not a {cls.__name__}")
        if not isinstance(config, dict) or not all(
                isinstance(config.get(k), str) for k in ("fingerprint", "params_fingerprint")):
            raise GraphForgetError(f"{cfg_path} has no fingerprints, so its integrity cannot be checked; "
                                   "refusing to load it (save it again with this version)")
        secret = _key_bytes(key)
        if secret is not None:
            signature = config.get("signature")
            if not isinstance(signature, str):
                raise GraphForgetError(f"{cfg_path} is not signed, but a key was given")
            if not hmac.compare_digest(signature, _signature(secret, config)):
                raise GraphForgetError(f"{cfg_path}: the signature does not match this key "
                                       "(the file was changed, or signed with another key)")
        try:
            state = torch.load(state_path, weights_only=True, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means corruption
            # torch's message suggests retrying with weights_only=False: never for a file that
            # just failed this check, so only the offending global (if any) is named
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
            reason = f"it refers to {found.group(1)}, which a plain tensor file never does" if found \
                else "it is not a readable plain tensor file"
            raise GraphForgetError(f"corrupted or unsafe {state_path}: {reason}; it was not loaded") from None
        if not isinstance(params, dict) or state_fingerprint(params) != config["params_fingerprint"]:
            raise GraphForgetError(f"corrupted {cfg_path}: parameters do not match their fingerprint")
        if not isinstance(state, dict) or state_fingerprint(state) != config["fingerprint"]:
            raise GraphForgetError(f"corrupted {state_path}: the state does not match the fingerprint "
                                   f"recorded in {cfg_path.name}")
        params = _user_params_from_markers(params, user, folder)
        if state.get("data") is None:
            if data is None:
                raise GraphForgetError(f"{folder} does not embed its data: pass the retained data it was "
                                       "saved with, Unlearner.load(path, data=...)")
            if isinstance(data, Data):
                # as fit() prepared it: the graph the model was fitted on is accepted as is
                # while nothing has been forgotten
                data = with_forgotten_mask(data)
            given = _data_state(data)
            if state_fingerprint(given) != config.get("data_fingerprint"):
                raise GraphForgetError("the data passed to load() is not the data this unlearner was saved "
                                       "with (its fingerprint differs); after unlearning, pass the retained "
                                       "data (the unlearner's data_ when it was saved)")
            state["data"] = given
        try:
            obj = klass(**params)
        except (TypeError, ValueError) as exc:
            raise GraphForgetError(f"corrupted parameters in {cfg_path}: {exc}") from None
        try:
            obj.data_ = data_from_state(state["data"])
            obj.history_ = [ForgottenDigest(**r) if "digest" in r else request_from_dict(r)
                            for r in state["history"]]
            obj._set_state(state["method"])
        except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError) as exc:
            raise GraphForgetError(f"corrupted state in {state_path}: {exc}") from None
        return obj


_USER_PARAMS = ("model", "train_fn", "forward_fn", "loss_fn")


def _user_params_to_markers(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as saved: the user's module/factory and callables become markers naming
    their type (code is never saved); torch dtypes and devices become strings; an executor
    object becomes its kind's name."""
    out = dict(params)
    for key, value in params.items():
        if key in _USER_PARAMS and value is not None and not isinstance(value, (str, int, float, bool)):
            kind = "module" if isinstance(value, torch.nn.Module) else "callable"
            name = type(value).__qualname__ if kind == "module" else getattr(
                value, "__qualname__", type(value).__qualname__)
            out[key] = {"user_code": kind, "name": name}
        elif isinstance(value, (torch.dtype, torch.device)):
            out[key] = str(value)
        elif key == "executor" and value is not None and not isinstance(value, str):
            # an executor object is saved by its kind: load() makes a fresh one of that kind
            # (the object's own settings, e.g. workers or a Ray address, are not saved)
            out[key] = str(getattr(value, "name", type(value).__name__))
    return out


def _user_params_from_markers(params: dict[str, Any], given: dict[str, Any], folder: Path) -> dict[str, Any]:
    unknown = sorted(set(given) - set(_USER_PARAMS))
    if unknown:
        raise GraphForgetError(f"load() takes the user's code as {', '.join(_USER_PARAMS)}, got {unknown}")
    out = dict(params)
    for key in _USER_PARAMS:
        value = params.get(key)
        if isinstance(value, dict) and "user_code" in value:
            if given.get(key) is None:
                what = "a zero-argument factory returning a fresh" if key == "model" else "the"
                raise GraphForgetError(
                    f"{folder} was saved with the user's {key} ({value.get('name')}), whose code is not "
                    f"saved: pass {what} one, Unlearner.load(path, {key}=...)")
            out[key] = given[key]
        elif given.get(key) is not None:
            raise GraphForgetError(f"{folder} was saved without a user {key}; do not pass {key}= to load()")
    return out


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
