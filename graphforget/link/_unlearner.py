"""Unlearners that serve link prediction (and, where declared, node classification)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import reference_from_registry
from graphforget.data._validate import validate_data
from graphforget.errors import GraphForgetError
from graphforget.gnn import GNNUnlearner
from graphforget.link._model import DECODERS, LinkPredictor, train_link_predictor
from graphforget.link._split import is_link_data
from graphforget.models import build_model
from graphforget.training import forward, seeded
from graphforget.unlearner import Unlearner
from graphforget.user_model import UserModel, fresh_module

__all__ = ["LinkGNNUnlearner"]

_TASKS = ("auto", "link", "node")


class LinkGNNUnlearner(GNNUnlearner):
    """A :class:`~graphforget.gnn.GNNUnlearner` that also trains link predictors.

    With ``task="link"`` (or ``"auto"`` on data made by
    :func:`~graphforget.link.link_split`) the model is a
    :class:`~graphforget.link.LinkPredictor`: the backbone encodes nodes into
    ``hidden_channels``-dimensional embeddings and ``decoder`` scores pairs; it is
    trained by :func:`~graphforget.link.train_link_predictor`. With ``task="node"`` it
    is the usual node classifier.

    Args:
        decoder (str): ``"dot"`` or ``"mlp"`` (link task only). (default: ``"dot"``)
        task (str): ``"auto"``, ``"link"`` or ``"node"``. (default: ``"auto"``)
        **others: as :class:`~graphforget.gnn.GNNUnlearner`.
    """

    def __init__(self, model: str = "gcn", hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, decoder: str = "dot",
                 task: str = "auto",
                 train_fn: Any = None, forward_fn: Any = None,
                 loss_fn: Any = None, device: Any = None, dtype: Any = None) -> None:
        super().__init__(model=model, hidden_channels=hidden_channels, num_layers=num_layers,
                         dropout=dropout, lr=lr, weight_decay=weight_decay, epochs=epochs,
                         patience=patience, seed=seed, model_kwargs=model_kwargs,
                         train_fn=train_fn, forward_fn=forward_fn, loss_fn=loss_fn,
                         device=device, dtype=dtype)
        self.decoder = decoder
        self.task = task

    # -- task ---------------------------------------------------------------------
    def _resolve_task(self, data: Data) -> str:
        if self.task not in _TASKS:
            raise GraphForgetError(f"task must be one of {', '.join(_TASKS)}, got {self.task!r}")
        if self.decoder not in DECODERS:
            raise GraphForgetError(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        task = ("link" if is_link_data(data) else "node") if self.task == "auto" else self.task
        allowed = {t.value for t in type(self).tasks}
        if task not in allowed:
            raise GraphForgetError(f"{self.method_name} does not serve the {task!r} task "
                                   f"(it serves: {', '.join(sorted(allowed))})")
        return task

    @property
    def is_link(self) -> bool:
        return getattr(self, "task_", None) == "link"

    def _check_data(self, data: Data) -> None:
        task = self._resolve_task(data)
        if task == "node":
            super()._check_data(data)
            return
        Unlearner._check_data(self, data)
        for key in ("x", "edge_index", "test_pos", "test_neg"):
            if getattr(data, key, None) is None:
                raise GraphForgetError(
                    f"{self.method_name} (link task) needs data.{key}: split the graph with "
                    "graphforget.link.link_split()")
        self._check_params()
        validate_data(data, f"{self.method_name}.fit()", labels=False)
        if self.is_user_model:
            self._check_user_model(data)

    def _check_user_output(self, out: Tensor, data: Data) -> None:
        if self._resolve_task(data) == "node":
            super()._check_user_output(out, data)

    # -- model ----------------------------------------------------------------------
    def _build_model(self) -> torch.nn.Module:
        if not self.is_link:
            return super()._build_model()
        with seeded(self.seed):
            return self._link_predictor()

    def _link_predictor(self) -> LinkPredictor:
        """A freshly initialised link predictor, drawn from the caller's random state
        (:meth:`_build_model` seeds it with ``seed``)."""
        if self.is_user_model:
            return LinkPredictor(self._wrap(fresh_module(self.model)), int(self.user_out_channels_),
                                 self.decoder)
        encoder = build_model(self.model, self.in_channels_, self.hidden_channels,
                              hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                              dropout=self.dropout, **(self.model_kwargs or {}))
        return self._place(LinkPredictor(encoder, self.hidden_channels, self.decoder))

    def _train_fresh(self, data: Data) -> torch.nn.Module:
        if not self.is_link:
            return super()._train_fresh(data)
        model = self._build_model()
        if self.train_fn is not None:  # the user's loop trains the encoder (and decoder)
            module = model.encoder.module if isinstance(model.encoder, UserModel) else model
            with seeded(self.seed):
                self.train_fn(module, data)
            model.eval()
        else:
            train_link_predictor(model, data, self.train_config, seed=self.seed)
        return model

    def _attach(self, model: UserModel, data: Data) -> None:
        self.task_ = self._resolve_task(data)
        if not self.is_link:
            super()._attach(model, data)
            return
        if self.decoder != "dot":
            raise GraphForgetError(f"attach() on the link task needs decoder='dot', got {self.decoder!r} "
                                   "(that decoder would be untrained)")
        self.in_channels_ = int(data.x.size(-1))
        self.num_classes_ = 0
        self.model_ = LinkPredictor(model, int(self.user_out_channels_), "dot")

    def _fit(self, data: Data) -> None:
        self.task_ = self._resolve_task(data)
        self.in_channels_ = int(data.x.size(-1))
        self.num_classes_ = 0 if self.is_link else _num_classes(data)
        self.model_ = self._train_fresh(data)

    # -- inference ------------------------------------------------------------------
    def _embed(self, data: Data) -> Tensor:
        """Node embeddings (link) or logits (node) on ``data``; subclasses may change it."""
        self.model_.eval()
        return forward(self.model_, data)

    def _logits(self, data: Data) -> Tensor:
        return self._embed(data)

    def _decode(self, z: Tensor, pairs: Tensor) -> Tensor:
        return self.model_.decode(z, pairs)

    def link_scores(self, pairs: Tensor, data: Data | None = None) -> Tensor:
        """Logits of the node pairs ``pairs`` (``[2, k]``), embeddings on the inference graph."""
        self._check_fitted()
        if not self.is_link:
            raise GraphForgetError(f"{self.method_name} was fitted for node classification, "
                                   "not link prediction")
        with torch.no_grad():
            return self._decode(self._embed(self.inference_data(data)), pairs)

    def link_metrics(self, split: str = "test") -> dict[str, float]:
        """AUROC and AUPRC on ``{split}_pos`` vs ``{split}_neg`` (see :func:`~graphforget.link.dt_metrics`)."""
        from graphforget.link._metrics import dt_metrics

        return dt_metrics(self, split)

    def reference(self) -> Unlearner:
        if not self.is_link:
            return super().reference()
        return reference_from_registry(self, "link-retrain")

    # -- state ------------------------------------------------------------------------
    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        state["task"] = self.task_
        if self.is_user_model:
            state["user_out_channels"] = int(self.user_out_channels_)
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        self.task_ = str(state.get("task", "node"))  # node-only states saved before the link task
        if "user_out_channels" in state:
            self.user_out_channels_ = int(state["user_out_channels"])
        super()._set_state(state)


def _num_classes(data: Data) -> int:
    from graphforget.training import num_classes

    return num_classes(data)
