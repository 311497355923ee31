"""Shared base for unlearners that train one GNN backbone for node classification.

The backbone is a registered name or the user's own model (a module, a factory, or a
trained module given to :meth:`GNNUnlearner.attach`): see :mod:`graphforget.user_model`
and ``docs/own_model.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.data._validate import validate_data
from graphforget.errors import GraphForgetError
from graphforget.models import build_model, message_passing_depth
from graphforget.training import TrainConfig, forward, num_classes, seeded, train_node_classifier
from graphforget.unlearner import Unlearner, with_forgotten_mask
from graphforget.user_model import (
    ForwardFn,
    LossFn,
    TrainFn,
    UserModel,
    check_factory,
    describe_model,
    fresh_module,
    is_user_model,
    message_passing_hops,
    preserve_modes,
    probe_forward,
    resolve_dtype,
)

__all__ = ["GNNUnlearner"]


class GNNUnlearner(Unlearner):
    """An unlearner around one backbone trained by :func:`~graphforget.training.train_node_classifier`.

    Args:
        model (str, torch.nn.Module or callable): backbone name
            (:func:`graphforget.models.model_names`), the user's module (a template) or a
            zero-argument factory (see ``docs/own_model.md``). (default: ``"gcn"``)
        hidden_channels (int): hidden size. (default: :obj:`64`)
        num_layers (int): message-passing layers (``K`` for SGC). (default: :obj:`2`)
        dropout (float): dropout. (default: :obj:`0.5`)
        lr (float): Adam learning rate. (default: :obj:`0.01`)
        weight_decay (float): L2 coefficient. (default: :obj:`5e-4`)
        epochs (int): training epochs. (default: :obj:`200`)
        patience (int, optional): early stopping on validation accuracy. (default: :obj:`None`)
        seed (int): seeds initialisation and dropout. (default: :obj:`0`)
        model_kwargs (dict, optional): extra backbone arguments (``heads``, ``K``, ...).
        train_fn (callable, optional): ``train_fn(module, data) -> None`` trains a fresh
            user module in place; replaces the built-in loop wherever the method trains
            (fit, retrain reference, shards). Called under the method's seed.
        forward_fn (callable, optional): ``forward_fn(module, data) -> Tensor`` for a
            user module whose forward is not ``(x, edge_index)``.
        loss_fn (callable, optional): ``loss_fn(module, data, mask) -> Tensor`` replaces
            the cross-entropy of the built-in loop.
        device (str or torch.device, optional): device of the backbones the method
            builds. (default: :obj:`None`, where they are built)
        dtype (str or torch.dtype, optional): floating dtype of the backbones the method
            builds, e.g. ``"float64"``. (default: :obj:`None`, float32)

    ``model`` may also be a ``torch.nn.Module`` (a template: copied and re-initialised
    under ``seed`` whenever a model is trained from scratch) or a zero-argument factory.
    """

    #: Whether :meth:`attach` can adopt a trained model (the method never trains from scratch).
    attachable = False

    def __init__(self, model: str | torch.nn.Module | Callable[[], torch.nn.Module] = "gcn",
                 hidden_channels: int = 64, num_layers: int = 2,
                 dropout: float = 0.5, lr: float = 0.01, weight_decay: float = 5e-4,
                 epochs: int = 200, patience: int | None = None, seed: int = 0,
                 model_kwargs: dict[str, Any] | None = None, train_fn: TrainFn | None = None,
                 forward_fn: ForwardFn | None = None, loss_fn: LossFn | None = None,
                 device: str | torch.device | None = None,
                 dtype: str | torch.dtype | None = None) -> None:
        self.model = model
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.patience = patience
        self.seed = seed
        self.model_kwargs = model_kwargs
        self.train_fn = train_fn
        self.forward_fn = forward_fn
        self.loss_fn = loss_fn
        self.device = device
        self.dtype = dtype

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay,
                           patience=self.patience)

    def _check_params(self) -> None:
        """Rejects out-of-range hyper-parameters before any training (scikit-learn
        validates in ``fit`` too), so they fail as a ``GraphForgetError`` naming the value
        instead of a torch error deep in the backbone."""
        def integer(name: str, low: int | None) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
                bound = "" if low is None else f" >= {low}"
                raise GraphForgetError(f"{name} must be an integer{bound}, got {value!r}")

        integer("hidden_channels", 1)
        # SGC/GPR read num_layers as their propagation depth K (0 = no propagation);
        # every other backbone needs at least one layer
        integer("num_layers", 0 if str(self.model).lower() in ("sgc", "gpr") else 1)
        integer("epochs", 0)
        integer("seed", None)
        if self.patience is not None:
            integer("patience", 0)
        for name in ("dropout", "lr", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise GraphForgetError(f"{name} must be a number, got {value!r}")
        if not 0 < self.lr <= 1e4:
            raise GraphForgetError(f"lr must lie in (0, 1e4], got {self.lr!r}")
        if not 0 <= self.weight_decay <= 1e4:
            raise GraphForgetError(f"weight_decay must lie in [0, 1e4], got {self.weight_decay!r}")
        if not 0 <= self.dropout < 1:
            raise GraphForgetError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if self.model_kwargs is not None and not isinstance(self.model_kwargs, dict):
            raise GraphForgetError(f"model_kwargs must be a dict, got {type(self.model_kwargs).__name__}")
        for name in ("train_fn", "forward_fn", "loss_fn"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise GraphForgetError(f"{name} must be callable, got {type(value).__name__}")
        resolve_dtype(self.dtype)
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise GraphForgetError(f"device must name a torch device, got {self.device!r}") from None
        for key, low in (("heads", 1), ("K", 0)):
            value = (self.model_kwargs or {}).get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise GraphForgetError(f"model_kwargs[{key!r}] must be an integer >= {low}, got {value!r}")

    def _check_data(self, data: Data) -> None:
        self._check_params()
        super()._check_data(data)
        for key in ("x", "y", "edge_index", "train_mask"):
            if getattr(data, key, None) is None:
                raise GraphForgetError(f"{self.method_name} needs data.{key}")
        validate_data(data, f"{self.method_name}.fit()")
        if is_user_model(self.model):
            self._check_user_model(data)

    # -- the user's model ---------------------------------------------------------------
    @property
    def is_user_model(self) -> bool:
        """Whether ``model`` is the user's module or factory (not a backbone name)."""
        return is_user_model(self.model)

    def _check_user_model(self, data: Data) -> torch.nn.Module:
        """Checks a user model spec against ``data`` (a factory builds fresh modules, the
        forward accepts the data) and returns a module to inspect. Changes no weight."""
        if isinstance(self.model, torch.nn.Module):
            module = self.model
        elif callable(self.model):
            with seeded(self.seed):
                module = check_factory(self.model)
        else:
            raise GraphForgetError(f"model must be a backbone name, a torch.nn.Module or a zero-argument "
                                   f"factory, got {type(self.model).__name__}")
        out = probe_forward(module, data, self.forward_fn)
        self._check_user_output(out, data)
        self.user_out_channels_ = int(out.size(-1))
        return module

    def _check_user_output(self, out: Tensor, data: Data) -> None:
        """Node classification: one logit per class."""
        classes = num_classes(data)
        if out.size(-1) != classes:
            raise GraphForgetError(f"{describe_model(self.model)} returns {out.size(-1)} outputs per node; "
                                   f"node classification on this data needs {classes} (one per class)")

    def depth(self) -> int:
        """Hops of the backbone: from its name (``K`` for SGC/GPR), or, for a user model,
        from its message-passing layers (:func:`~graphforget.user_model.message_passing_hops`)."""
        module = self._user_module()
        if module is not None:
            return message_passing_hops(module)
        return message_passing_depth(self.model, self.num_layers, self.model_kwargs)

    def _user_module(self) -> torch.nn.Module | None:
        """The user's module inside ``model_`` (``None`` for a built-in backbone)."""
        model = getattr(self, "model_", None)
        for candidate in (model, getattr(model, "encoder", None)):
            if isinstance(candidate, UserModel):
                return candidate.module
        return None

    def _wrap(self, module: torch.nn.Module) -> UserModel:
        dtype = resolve_dtype(self.dtype)
        if self.device is not None or dtype is not None:
            module = module.to(device=self.device, dtype=dtype)
        return UserModel(module, self.forward_fn)

    def _place(self, model: torch.nn.Module) -> torch.nn.Module:
        """A built-in backbone moved to ``device`` / ``dtype``."""
        dtype = resolve_dtype(self.dtype)
        if self.device is not None or dtype is not None:
            model = model.to(device=self.device, dtype=dtype)
        return model

    def _build_model(self) -> torch.nn.Module:
        with seeded(self.seed):
            if self.is_user_model:
                return self._wrap(fresh_module(self.model))
            model = build_model(self.model, self.in_channels_, self.num_classes_,
                                hidden_channels=self.hidden_channels, num_layers=self.num_layers,
                                dropout=self.dropout, **(self.model_kwargs or {}))
        return self._place(model)

    def _user_train(self, model: torch.nn.Module, data: Data) -> None:
        """Runs ``train_fn`` on the user's module (under the seed) and leaves it in eval mode."""
        module = model.module if isinstance(model, UserModel) else model
        with seeded(self.seed):
            self.train_fn(module, data)  # type: ignore[misc]
        model.eval()

    def _loss_for_loop(self) -> Any:
        if self.loss_fn is None:
            return None
        user = self.loss_fn

        def loss(model: torch.nn.Module, data: Data, mask: Tensor) -> Tensor:
            return user(model.module if isinstance(model, UserModel) else model, data, mask)

        return loss

    def _train_fresh(self, data: Data) -> torch.nn.Module:
        """A fresh backbone (seeded init) trained on ``data``: the retrain primitive
        (``train_fn`` when given, else :func:`~graphforget.training.train_node_classifier`)."""
        model = self._build_model()
        if self.train_fn is not None:
            self._user_train(model, data)
        else:
            train_node_classifier(model, data, self.train_config, seed=self.seed,
                                  loss_fn=self._loss_for_loop())
        return model

    # -- attaching to a trained model --------------------------------------------------------
    def attach(self, model: torch.nn.Module, data: Data) -> GNNUnlearner:
        """Adopts the user's **trained** ``model`` for ``data`` without training anything.

        No weight of ``model`` changes until :meth:`~graphforget.Unlearner.unlearn`, which
        updates it in place. ``model`` is also stored as the ``model`` parameter (a
        template), so :meth:`reference` and :meth:`clone` build fresh copies of it
        (trained with ``train_fn`` when given).

        Raises:
            GraphForgetError: the method trains from scratch (use ``model=factory`` and
                :meth:`fit`), ``model`` is not a module, or its forward does not fit ``data``.
        """
        if not type(self).attachable:
            raise GraphForgetError(
                f"{self.method_name} trains its models from scratch and cannot attach to a trained "
                f"model; pass model=<factory> (and train_fn=) to the constructor and call fit(data)")
        if not isinstance(model, torch.nn.Module):
            raise GraphForgetError(f"attach() expects a trained torch.nn.Module, got {type(model).__name__}")
        previous = dict(self.__dict__)
        try:
            self.model = model
            self._check_data(data)
            data = with_forgotten_mask(data)  # as fit() takes it
            self._attach(UserModel(model, self.forward_fn), data)
            self.history_ = []
            self.fit_seconds_ = 0.0
            self.attached_ = True
            self.data_ = data
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise
        return self

    def _attach(self, model: UserModel, data: Data) -> None:
        """Sets the learned state around an adopted model (subclasses add theirs)."""
        self.in_channels_ = int(data.x.size(-1))
        self.num_classes_ = num_classes(data)
        self.model_ = model

    @contextlib.contextmanager
    def _model_guard(self) -> Iterator[None]:
        """For an attached model: the user's train/eval modes and ``requires_grad``
        flags are restored after the method's work."""
        model = getattr(self, "model_", None)
        if getattr(self, "attached_", False) and isinstance(model, torch.nn.Module):
            with preserve_modes(model):
                yield
        else:
            yield

    def _commit_model(self, model: torch.nn.Module) -> None:
        """Makes ``model`` the current model; an attached user model is updated in place."""
        current = getattr(self, "model_", None)
        if getattr(self, "attached_", False) and current is not None and model is not current:
            with torch.no_grad():
                current.load_state_dict(model.state_dict())
        else:
            self.model_ = model

    def _fit(self, data: Data) -> None:
        self.in_channels_ = int(data.x.size(-1))
        self.num_classes_ = num_classes(data)
        self.model_ = self._train_fresh(data)

    def _logits(self, data: Data) -> Tensor:
        self.model_.eval()
        return forward(self.model_, data)

    def _get_state(self) -> dict[str, Any]:
        state = super()._get_state()
        state.update(in_channels=self.in_channels_, num_classes=self.num_classes_)
        return state

    def _set_state(self, state: dict[str, Any]) -> None:
        self.in_channels_ = int(state["in_channels"])
        self.num_classes_ = int(state["num_classes"])
        super()._set_state(state)
