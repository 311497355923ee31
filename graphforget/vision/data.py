r"""Vision data views and forgetting scenarios.

A vision set is the library's usual edge-less ``Data(x, y, train_mask, val_mask,
test_mask, edge_index=[2, 0], num_classes)`` (see :mod:`graphforget.data.tabular`), with
one difference: **``x`` is kept as images** ``[N, C, H, W]`` rather than flattened rows.
The CNN and ResNet need the spatial layout, a :class:`~graphforget.requests.SampleRequest`
zeroes rows of any shape, and :class:`~graphforget.vision.models.VisionMLP` flattens
internally, so one tensor serves every model. :func:`as_images` converts a flat tabular
set (digits, MNIST from :mod:`graphforget.data.tabular`) into this view.

Scenarios (``--request``): ``sample`` forgets a random fraction of the training set
(1% and 10% in the benchmarks); ``class`` forgets every training sample of one class
(:func:`sample_class_request`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError, InvalidRequestError
from graphforget.requests import SampleRequest

__all__ = ["as_images", "image_shape", "load_vision", "sample_class_request", "retained_classes"]


def image_shape(data: Data) -> tuple[int, int, int]:
    """``(C, H, W)`` of the images in ``data.x``: taken from a 4-D ``x``, from a 3-D one
    (one channel), or from a flat ``x`` whose width is a square (one channel)."""
    x = data.x
    if x is None:
        raise GraphForgetError("vision data needs data.x")
    if x.dim() == 4:
        return int(x.size(1)), int(x.size(2)), int(x.size(3))
    if x.dim() == 3:
        return 1, int(x.size(1)), int(x.size(2))
    if x.dim() == 2:
        side = math.isqrt(int(x.size(1)))
        if side * side == x.size(1):
            return 1, side, side
        raise GraphForgetError(f"cannot read an image shape from flat features of width {x.size(1)}; "
                               "pass data with x of shape [N, C, H, W]")
    raise GraphForgetError(f"data.x must be [N, C, H, W] images, got shape {tuple(x.shape)}")


def as_images(data: Data, shape: tuple[int, int, int] | None = None) -> Data:
    """A copy of ``data`` whose ``x`` is ``[N, C, H, W]`` (``shape`` defaults to
    :func:`image_shape`)."""
    shape = tuple(shape) if shape is not None else image_shape(data)
    out = data.clone()
    out.x = data.x.reshape(data.x.size(0), *shape).contiguous()
    out.num_nodes = int(data.x.size(0))
    return out


def load_vision(dataset: str, root: Any = None, split: str | None = None, seed: int = 0) -> Data:
    """``digits`` (scikit-learn 8x8, 80/20 split) or ``mnist`` (28x28, the public
    60k/10k split) as images. ``mnist:max_train=6000,max_test=2000`` keeps the first
    training and test rows (scale-down runs).

    Loading reuses :mod:`graphforget.data.tabular`'s loaders (and its IDX reader).
    """
    from graphforget.data.tabular import load_digits_data, load_mnist_data

    base, _, spec = dataset.partition(":")
    kwargs: dict[str, Any] = {}
    for part in filter(None, spec.split(",")):
        key, _, value = part.partition("=")
        if key.strip() not in ("max_train", "max_test"):
            raise GraphForgetError(f"unknown vision dataset option {key!r}; known: max_train, max_test")
        kwargs[key.strip()] = int(value)
    name = base.strip().lower()
    if name == "digits":
        if kwargs:
            raise GraphForgetError("digits takes no options")
        data = load_digits_data(None, split or "0.8/0.2", seed)
    elif name == "mnist":
        max_test = kwargs.pop("max_test", None)
        data = load_mnist_data(root, split or "public", seed, **kwargs)
        if max_test is not None:  # keep every training row and the first max_test test rows
            keep = data.train_mask | (data.test_mask & (data.test_mask.cumsum(0) <= max_test))
            data = data.subgraph(keep.nonzero().view(-1))
    else:
        raise GraphForgetError(f"unknown vision dataset {dataset!r}; choose one of: digits, mnist")
    out = as_images(data)
    out.dataset_name = name
    return out


def retained_classes(data: Data) -> torch.Tensor:
    """Classes that still have training samples in ``data``."""
    return torch.unique(data.y[data.train_mask])


def sample_class_request(data: Data, label: int | None = None, seed: int = 0) -> SampleRequest:
    """Every (not yet forgotten) training sample of one class, as a :class:`SampleRequest`.

    ``label=None`` picks class ``seed mod num_classes`` among those still present.
    """
    forgotten = getattr(data, "forgotten_mask", None)
    pool = data.train_mask if forgotten is None else data.train_mask & ~forgotten
    present = torch.unique(data.y[pool])
    if present.numel() == 0:
        raise InvalidRequestError("no training samples left to forget")
    if label is None:
        label = int(present[int(seed) % present.numel()])
    if int(label) not in present.tolist():
        raise InvalidRequestError(f"class {label} has no training samples left; present: {present.tolist()}")
    return SampleRequest((pool & (data.y == int(label))).nonzero().view(-1))
