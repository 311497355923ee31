r"""The vision unlearner base class and exact retraining (:class:`VisionRetrain`).

Training is mini-batch SGD or Adam on the cross-entropy of the training rows. The
initialisation is seeded with :func:`~graphforget.training.seeded`, the batch order
comes from a :class:`torch.Generator` seeded with the same seed, and nothing reads the
global RNG, so on CPU two fits with one seed give bit-identical parameters. Models run
on ``device`` (``None``/``"cpu"``, ``"cuda"``, or ``"auto"`` = CUDA when available); the
state is saved on the CPU, so a GPU-trained model loads anywhere.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from graphforget._registry import resolve_method
from graphforget.errors import GraphForgetError
from graphforget.requests import ForgetRequest, SampleRequest
from graphforget.training import num_classes, seeded
from graphforget.unlearner import Guarantee, Task, Unlearner, UnlearnReport, with_forgotten_mask
from graphforget.user_model import fresh_module, is_user_model, preserve_modes
from graphforget.vision.data import image_shape
from graphforget.vision.models import build_vision_model, vision_model_names

__all__ = ["VisionUnlearner", "VisionApproximateUnlearner", "minibatches", "make_optimizer", "model_logits"]


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Shuffled index batches covering ``range(n)`` once. The last one may be short, but
    never a single sample when ``n > 1`` (it joins the previous batch: BatchNorm cannot
    train on one sample)."""
    perm = torch.randperm(n, generator=generator)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else n
        yield perm[start:end]


def make_optimizer(name: str, params: Any, lr: float, momentum: float = 0.9,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``"sgd"`` (with momentum) or ``"adam"``."""
    key = str(name).lower()
    if key == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if key == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    raise GraphForgetError(f"unknown optimizer {name!r}; choose sgd or adam")


class VisionUnlearner(Unlearner):
    r"""Base of every vision unlearner: one image classifier trained by mini-batch SGD/Adam.

    Subclasses implement :meth:`_unlearn`, reading the forget set with
    :meth:`forget_set` and the retained training set with :meth:`retain_set`, and
    commit ``self.model_`` at the end.

    Args:
        model (str): ``"mlp"``, ``"cnn"`` (LeNet) or ``"resnet18"``. (default: ``"mlp"``)
        hidden_channels (int, optional): model width (``None`` = the model's default:
            128 for the MLP, 120 for LeNet, 64 for ResNet-18). (default: :obj:`None`)
        epochs (int): training epochs of the original (and retrained) model. (default: :obj:`20`)
        batch_size (int): mini-batch size. (default: :obj:`64`)
        lr (float): learning rate. (default: :obj:`1e-3`)
        optimizer (str): ``"adam"`` or ``"sgd"`` (momentum ``momentum``). (default: ``"adam"``)
        momentum (float): SGD momentum. (default: :obj:`0.9`)
        weight_decay (float): L2 coefficient. (default: :obj:`5e-4`)
        seed (int): seeds initialisation and batch order. (default: :obj:`0`)
        device (str, optional): ``None``/``"cpu"``, ``"cuda"``, ``"auto"``. (default: :obj:`None`)
    """

    guarantee = Guarantee.APPROXIMATE
    supported_requests = (SampleRequest,)
    tasks = (Task.VISION,)

    def __init__(self, model: str = "mlp", hidden_channels: int | None = None, epochs: int = 20,
                 batch_size: int = 64, lr: float = 1e-3, optimizer: str = "adam",
                 momentum: float = 0.9, weight_decay: float = 5e-4, seed: int = 0,
                 device: str | None = None) -> None:
        self.model = model
        self.hidden_channels = hidden_channels
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device

    # -- configuration -----------------------------------------------------------
    @property
    def torch_device(self) -> torch.device:
        if self.device in (None, "cpu"):
            return torch.device("cpu")
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _check_config(self) -> None:
        if isinstance(self.model, str) and str(self.model).lower() not in vision_model_names():
            raise GraphForgetError(f"unknown vision model {self.model!r}; choose one of: "
                                   f"{', '.join(vision_model_names())}")
        if int(self.epochs) < 0 or int(self.batch_size) < 1:
            raise GraphForgetError(f"epochs must be >= 0 and batch_size >= 1, got {self.epochs}, {self.batch_size}")
        if not float(self.lr) > 0:
            raise GraphForgetError(f"lr must be > 0, got {self.lr}")
        if str(self.optimizer).lower() not in ("sgd", "adam"):
            raise GraphForgetError(f"unknown optimizer {self.optimizer!r}; choose sgd or adam")

    def _check_data(self, data: Data) -> None:
        super()._check_data(data)
        for key in ("x", "y", "train_mask"):
            if getattr(data, key, None) is None:
                raise GraphForgetError(f"{self.method_name} needs data.{key}")
        image_shape(data)  # raises on shapes that are not images
        self._check_config()

    def _base_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in VisionUnlearner.param_names()}

    reference_method: ClassVar[str] = "vision-retrain"

    def reference(self) -> Unlearner:
        """``vision-retrain`` with the same model, training recipe and seed."""
        return resolve_method(self.reference_method)(**self._base_params())

    # -- training primitives ---------------------------------------------------
    def _build_model(self) -> nn.Module:
        with seeded(self.seed):
            if is_user_model(self.model):  # the user's module (a template) or factory
                model = fresh_module(self.model)
            else:
                model = build_vision_model(self.model, self.in_shape_, self.num_classes_, self.hidden_channels)
        return model.to(self.torch_device)

    # -- the user's trained model ---------------------------------------------------
    attachable: ClassVar[bool] = False

    def attach(self, model: nn.Module, data: Data) -> VisionUnlearner:
        """Adopts the user's trained image classifier (no refit, no weight changed until
        :meth:`unlearn`, which updates it in place). Approximate methods only."""
        if not type(self).attachable:
            raise GraphForgetError(f"{self.method_name} trains its models from scratch and cannot attach to "
                                   "a trained model; pass model=<factory> and call fit(data)")
        if not isinstance(model, nn.Module):
            raise GraphForgetError(f"attach() expects a trained torch.nn.Module, got {type(model).__name__}")
        previous = dict(self.__dict__)
        try:
            self.model = model
            anchor = next(iter(model.parameters()), None)
            if self.device is None and anchor is not None and anchor.device.type != "cpu":
                self.device = str(anchor.device)
            self._check_data(data)
            try:
                out = model_logits(model, data.x[:2], self.torch_device)
            except Exception as exc:  # noqa: BLE001 - the user's code; name what failed
                raise GraphForgetError(f"{type(model).__name__} cannot classify images of shape "
                                       f"{tuple(data.x.shape[1:])} ({type(exc).__name__}: "
                                       f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
            if out.dim() != 2 or out.size(1) != num_classes(data):
                raise GraphForgetError(f"{type(model).__name__} returns {tuple(out.shape[1:])} outputs per image; "
                                       f"{num_classes(data)} classes expected")
            data = with_forgotten_mask(data)  # as fit() takes it
            self.in_shape_ = image_shape(data)
            self.num_classes_ = num_classes(data)
            self.model_ = model
            self.history_ = []
            self.fit_seconds_ = 0.0
            self.attached_ = True
            self.data_ = data
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise
        return self

    @contextlib.contextmanager
    def _model_guard(self) -> Iterator[None]:
        if getattr(self, "attached_", False):
            with preserve_modes(self.model_):
                yield
        else:
            yield

    def _commit_model(self, model: nn.Module) -> None:
        """Makes ``model`` current; an attached user model is updated in place."""
        if getattr(self, "attached_", False) and model is not self.model_:
            with torch.no_grad():
                self.model_.load_state_dict(model.state_dict())
        else:
            self.model_ = model

    def _generator(self, *salt: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed(hash((int(self.seed),) + tuple(int(s) for s in salt)) & 0x7FFF_FFFF_FFFF_FFFF)
        return g

    def _to(self, t: Tensor) -> Tensor:
        return t.to(self.torch_device)

    def train_epochs(self, model: nn.Module, x: Tensor, y: Tensor, epochs: int, lr: float,
                     generator: torch.Generator,
                     loss_fn: Callable[[nn.Module, Tensor, Tensor], Tensor] | None = None,
                     after_backward: Callable[[nn.Module], None] | None = None) -> list[float]:
        """Mini-batch training of ``model`` on ``(x, y)`` in place; returns epoch losses.
        ``loss_fn(model, xb, yb)`` replaces the cross-entropy; ``after_backward(model)``
        may edit gradients (SalUn's mask)."""
        if x.size(0) == 0:
            raise GraphForgetError("no training samples left to train on")
        opt = make_optimizer(self.optimizer, [p for p in model.parameters() if p.requires_grad],
                             lr, self.momentum, self.weight_decay)
        history = []
        with seeded(int(generator.initial_seed()) & 0x7FFF_FFFF):
            for _ in range(int(epochs)):
                model.train()
                total = 0.0
                for idx in minibatches(x.size(0), int(self.batch_size), generator):
                    xb, yb = self._to(x[idx]), self._to(y[idx])
                    opt.zero_grad()
                    loss = F.cross_entropy(model(xb), yb) if loss_fn is None else loss_fn(model, xb, yb)
                    loss.backward()
                    if after_backward is not None:
                        after_backward(model)
                    opt.step()
                    total += float(loss.detach()) * idx.numel()
                history.append(total / x.size(0))
        model.eval()
        return history

    def _train_fresh(self, data: Data) -> nn.Module:
        model = self._build_model()
        x, y = self.retain_set(data)
        self.train_epochs(model, x, y, int(self.epochs), float(self.lr), self._generator(0))
        return model

    # -- data views ----------------------------------------------------------------
    @staticmethod
    def retain_set(data: Data) -> tuple[Tensor, Tensor]:
        """Images and labels of the (retained) training rows of ``data``."""
        mask = data.train_mask
        return data.x[mask], data.y[mask]

    def forget_set(self, request: ForgetRequest) -> tuple[Tensor, Tensor]:
        """Images and labels of the rows ``request`` forgets (read before they are zeroed)."""
        ids = request.node_ids  # type: ignore[attr-defined]
        return self.data_.x[ids], self.data_.y[ids]

    # -- Unlearner hooks -----------------------------------------------------------
    def _fit(self, data: Data) -> None:
        self.in_shape_ = image_shape(data)
        self.num_classes_ = num_classes(data)
        self.model_ = self._train_fresh(data)

    def logits_on(self, x: Tensor, batch_size: int = 1024) -> Tensor:
        """The current model's logits on images ``x`` (CPU tensor), with no request
        applied: an evaluation tool for metrics that need the forget set's original
        images. Prediction on the inference data goes through :meth:`predict_logits`."""
        self._check_fitted()
        return model_logits(self.model_, x, self.torch_device, batch_size)

    def _logits(self, data: Data) -> Tensor:
        return self.logits_on(data.x)

    def _get_state(self) -> dict[str, Any]:
        return {"model": {k: v.detach().cpu().clone() for k, v in self.model_.state_dict().items()},
                "in_shape": list(self.in_shape_), "num_classes": int(self.num_classes_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.in_shape_ = tuple(int(v) for v in state["in_shape"])
        self.num_classes_ = int(state["num_classes"])
        model = self._build_model()
        model.load_state_dict(state["model"])
        model.eval()
        self.model_ = model

    def parameter_vector(self) -> Tensor | None:
        return torch.cat([p.detach().reshape(-1).cpu() for p in self.model_.parameters()])

    def _copy_model(self) -> nn.Module:
        model = copy.deepcopy(self.model_)
        model.eval()
        return model


def model_logits(model: nn.Module, x: Tensor, device: torch.device | str = "cpu",
                 batch_size: int = 1024) -> Tensor:
    """Logits of ``model`` on ``x`` in eval mode, batched, returned on the CPU."""
    was_training = model.training
    model.eval()
    outs = []
    with torch.no_grad():
        for start in range(0, x.size(0), batch_size):
            outs.append(model(x[start:start + batch_size].to(device)).float().cpu())
    model.train(was_training)
    if not outs:
        return torch.empty(0, 0)
    return torch.cat(outs)


def _check_positive(name: str, value: Any, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok:
        raise GraphForgetError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


class VisionApproximateUnlearner(VisionUnlearner):
    """Shared knobs of the approximate vision methods.

    Args:
        unlearn_epochs (int): passes of the unlearning update. (method default)
        unlearn_lr (float): learning rate of the unlearning update. (method default)
        **kwargs: the arguments of :class:`~graphforget.vision.base.VisionUnlearner`.
    """

    guarantee = Guarantee.APPROXIMATE
    attachable = True
    default_unlearn_epochs = 5
    default_unlearn_lr = 1e-3

    def __init__(self, unlearn_epochs: int | None = None, unlearn_lr: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unlearn_epochs = unlearn_epochs
        self.unlearn_lr = unlearn_lr

    @property
    def epochs_(self) -> int:
        return int(self.default_unlearn_epochs if self.unlearn_epochs is None else self.unlearn_epochs)

    @property
    def lr_(self) -> float:
        return float(self.default_unlearn_lr if self.unlearn_lr is None else self.unlearn_lr)

    def _check_config(self) -> None:
        super()._check_config()
        _check_positive("unlearn_epochs", self.epochs_, allow_zero=True)
        _check_positive("unlearn_lr", self.lr_)
        self._check_method()

    def _check_method(self) -> None:
        """Method-specific hyper-parameter checks (raise GraphForgetError)."""

    def _unlearn(self, request: ForgetRequest, retained: Data, report: UnlearnReport) -> None:
        self._check_config()
        start = time.perf_counter()
        x_f, y_f = self.forget_set(request)
        x_r, y_r = self.retain_set(retained)
        model = self._copy_model()
        self._update(model, x_f, y_f, x_r, y_r, report, self._generator(1, len(self.history_)))
        model.eval()
        report.breakdown["update"] = time.perf_counter() - start
        report.affected["samples"] = len(request)
        self._commit_model(model)

    def _update(self, model: nn.Module, x_f: Tensor, y_f: Tensor, x_r: Tensor, y_r: Tensor,
                report: UnlearnReport, generator: torch.Generator) -> None:
        raise NotImplementedError

    def _paired_epochs(self, model: nn.Module, x_r: Tensor, y_r: Tensor, x_f: Tensor, y_f: Tensor,
                       generator: torch.Generator, loss_fn: Any, epochs: int | None = None,
                       after_backward: Any = None) -> list[float]:
        """Epochs over retained batches, each paired with a forget batch (cycled):
        ``loss_fn(model, xr, yr, xf, yf)``."""
        opt = make_optimizer(self.optimizer, model.parameters(), self.lr_, self.momentum, self.weight_decay)
        bs = int(self.batch_size)
        history = []
        forget_iter = iter(())
        for _ in range(self.epochs_ if epochs is None else epochs):
            model.train()
            total, steps = 0.0, 0
            for idx in minibatches(x_r.size(0), bs, generator):
                fidx = next(forget_iter, None)
                if fidx is None:
                    forget_iter = iter(minibatches(x_f.size(0), bs, generator))
                    fidx = next(forget_iter)
                opt.zero_grad()
                loss = loss_fn(model, self._to(x_r[idx]), self._to(y_r[idx]),
                               self._to(x_f[fidx]), self._to(y_f[fidx]))
                loss.backward()
                if after_backward is not None:
                    after_backward(model)
                opt.step()
                total, steps = total + float(loss.detach()), steps + 1
            history.append(total / max(steps, 1))
        model.eval()
        return history


# ---------------------------------------------------------------------------
# re-optimisation on the retained data
# ---------------------------------------------------------------------------
