"""Dataset registry, loaders and splits."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget._registry import normalize
from graphforget.data._root import dataset_dir
from graphforget.data._synthetic import parse_synthetic, synthetic_graph
from graphforget.errors import GraphForgetError, UnknownNameError

__all__ = ["load_dataset", "dataset_names", "register_dataset", "apply_split", "split_masks",
           "DatasetInfo", "SYNTHETIC_PRESETS"]


class DatasetInfo:
    """A registered dataset: its loader, task and default split."""

    def __init__(self, name: str, loader: Callable[..., Data], task: str = "node",
                 default_split: str = "0.6/0.2/0.2", description: str = "") -> None:
        self.name, self.loader, self.task = name, loader, task
        self.default_split, self.description = default_split, description


_DATASETS: dict[str, DatasetInfo] = {}
# Modules outside this package that register datasets of their task (imported on the
# first look-up, so that the data package never imports a task package at import time).
_PROVIDERS = ("graphforget.graph._dataset",)
_providers_loaded = False



def _parse_options(spec: str, options: tuple[str, ...]) -> dict[str, Any]:
    """The ``key=value,...`` options after a dataset name: ``normalize`` (a flag, or 0/1)
    and the integer ``options``; anything else is an error."""
    allowed = ("normalize", *options)
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, _, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if key not in allowed:
            raise GraphForgetError(f"unknown dataset option {key!r} in {spec!r}; known: {', '.join(allowed)}")
        if key == "normalize":
            flag = value.strip().lower()
            if flag not in ("", "1", "true", "0", "false"):
                raise GraphForgetError(f"normalize takes no value or 0/1, got {value!r}")
            out[key] = flag in ("", "1", "true")
        else:
            try:
                out[key] = int(value)
            except ValueError:
                raise GraphForgetError(f"dataset option {key} takes an integer, got {value!r}") from None
    return out

def _load_providers() -> None:
    global _providers_loaded
    if not _providers_loaded:
        _providers_loaded = True
        import importlib

        for module in _PROVIDERS:
            importlib.import_module(module)


def register_dataset(name: str, loader: Callable[..., Data], task: str = "node",
                     default_split: str = "0.6/0.2/0.2", description: str = "",
                     aliases: tuple[str, ...] = ()) -> None:
    """Adds a dataset. ``loader(root, split, seed, **kwargs) -> Data``."""
    info = DatasetInfo(name, loader, task, default_split, description)
    for n in (name, *aliases):
        _DATASETS[normalize(n)] = info


def dataset_names(task: str | None = None) -> list[str]:
    _load_providers()
    names = {info.name for info in _DATASETS.values() if task is None or info.task == task}
    return sorted(names)


# ---------------------------------------------------------------------------
# splits
# ---------------------------------------------------------------------------
def _parse_ratios(split: str) -> list[float]:
    text = split.split(":", 1)[1] if split.startswith("random:") else split
    try:
        parts = [float(p) for p in text.split("/")]
    except ValueError:
        raise GraphForgetError(
            f"unknown split {split!r}: use 'public', 'full' or ratios like '0.8/0.2' or '0.6/0.2/0.2'"
        ) from None
    if len(parts) not in (2, 3) or any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-6:
        raise GraphForgetError(f"split ratios must be 2 or 3 non-negative numbers summing to 1, got {split!r}")
    return parts


def split_masks(num_nodes: int, split: str, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Seeded ``(train_mask, val_mask, test_mask)`` over ``num_nodes`` nodes from ratios
    (``"0.8/0.2"``: train/test with an empty ``val_mask``; ``"0.6/0.2/0.2"``: train/val/test)."""
    parts = _parse_ratios(split)
    if len(parts) == 2:
        parts = [parts[0], 0.0, parts[1]]
    n = int(num_nodes)
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=g)
    n_train = int(round(parts[0] * n))
    n_val = int(round(parts[1] * n))
    masks = []
    for lo, hi in ((0, n_train), (n_train, n_train + n_val), (n_train + n_val, n)):
        m = torch.zeros(n, dtype=torch.bool)
        m[perm[lo:hi]] = True
        masks.append(m)
    return masks[0], masks[1], masks[2]


def apply_split(data: Data, split: str, seed: int = 0) -> Data:
    """Sets ``train_mask``/``val_mask``/``test_mask`` from ratios (seeded, per node) on a copy.

    ``"0.8/0.2"`` is train/test (``val_mask`` all False); ``"0.6/0.2/0.2"`` is
    train/val/test.
    """
    masks = split_masks(data.num_nodes, split, seed)
    out = data.clone()
    out.train_mask, out.val_mask, out.test_mask = masks
    return out


# ---------------------------------------------------------------------------
# loaders
# ---------------------------------------------------------------------------
def _finish(data: Data, num_classes: int) -> Data:
    data.num_classes = int(num_classes)
    return data


def _planetoid(name: str) -> Callable[..., Data]:
    def load(root: Any, split: str, seed: int, spec: str = "", normalize: bool = False, **_: Any) -> Data:
        from torch_geometric.datasets import Planetoid

        normalize = _parse_options(spec, ()).get("normalize", normalize)  # "cora:normalize"
        pyg_split = {"public": "public", "full": "full"}.get(split, "public")
        ds = Planetoid(dataset_dir("Planetoid", root), name=name, split=pyg_split)
        data = ds[0]
        if split not in ("public", "full"):
            data = apply_split(data, split, seed)
        if normalize:  # PyG's NormalizeFeatures: every row sums to 1
            from torch_geometric.transforms import NormalizeFeatures

            data = NormalizeFeatures()(data)
        return _finish(data, ds.num_classes)

    return load


def _npz(klass: str, name: str) -> Callable[..., Data]:
    def load(root: Any, split: str, seed: int, **_: Any) -> Data:
        import torch_geometric.datasets as D

        if split in ("public", "full"):
            raise GraphForgetError(f"{name} has no public split; use ratios such as '0.8/0.2'")
        ds = getattr(D, klass)(dataset_dir(klass, root), name=name)
        return _finish(apply_split(ds[0], split, seed), ds.num_classes)

    return load


def _karate(root: Any, split: str, seed: int, **_: Any) -> Data:
    from torch_geometric.datasets import KarateClub

    ds = KarateClub()
    data = ds[0]
    if split != "public":
        data = apply_split(data, split, seed)
    else:
        data.val_mask = torch.zeros(data.num_nodes, dtype=torch.bool)
        data.test_mask = ~data.train_mask
    return _finish(data, ds.num_classes)


def _generate(spec: str, seed: int, split: str, name: str, **defaults: Any) -> Data:
    """A synthetic graph from ``defaults`` overridden by ``spec``, with ratio-split masks
    set in place (the graph is fresh: no copy, which matters at 60 million edges)."""
    if split in ("public", "full", "official"):
        raise GraphForgetError(f"{name} graphs have no {split!r} split; use ratios such as '0.6/0.2/0.2'")
    params = {**defaults, **parse_synthetic(spec)}
    params.setdefault("seed", seed)
    # the masks first: a bad split fails before minutes of generation
    masks = split_masks(int(params.get("num_nodes", 1000)), split, seed)
    data = synthetic_graph(**params)
    data.train_mask, data.val_mask, data.test_mask = masks
    return data


def _synthetic(root: Any, split: str, seed: int, spec: str = "", **_: Any) -> Data:
    return _generate(spec, seed, split, "synthetic")


#: ``synthetic-*`` presets: DC-SBM stand-ins with the size, degree, feature and class
#: counts of the OGB graphs (their edge homophily: arxiv ~0.65, products ~0.81)
SYNTHETIC_PRESETS: dict[str, dict[str, Any]] = {
    "synthetic-arxiv": {"model": "dcsbm", "num_nodes": 169_343, "avg_degree": 13.7,
                        "num_features": 128, "num_classes": 40, "homophily": 0.65},
    "synthetic-products": {"model": "dcsbm", "num_nodes": 2_449_029,
                           "avg_degree": 2 * 61_859_140 / 2_449_029,  # 61,859,140 edges
                           "num_features": 100, "num_classes": 47, "homophily": 0.81},
}


def _preset(name: str) -> Callable[..., Data]:
    def load(root: Any, split: str, seed: int, spec: str = "", **_: Any) -> Data:
        return _generate(spec, seed, split, name, **SYNTHETIC_PRESETS[name])

    return load


register_dataset("cora", _planetoid("Cora"), default_split="public",
                 description="Planetoid Cora: 2,708 nodes, 7 classes")
register_dataset("citeseer", _planetoid("CiteSeer"), default_split="public",
                 description="Planetoid CiteSeer: 3,327 nodes, 6 classes")
register_dataset("pubmed", _planetoid("PubMed"), default_split="public",
                 description="Planetoid PubMed: 19,717 nodes, 3 classes (downloads)")
register_dataset("cs", _npz("Coauthor", "CS"), aliases=("coauthor-cs",),
                 description="Coauthor CS: 18,333 nodes, 15 classes")
register_dataset("physics", _npz("Coauthor", "Physics"), aliases=("coauthor-physics",),
                 description="Coauthor Physics: 34,493 nodes, 5 classes")
register_dataset("computers", _npz("Amazon", "Computers"), aliases=("amazon-computers",),
                 description="Amazon Computers: 13,752 nodes, 10 classes")
register_dataset("photo", _npz("Amazon", "Photo"), aliases=("amazon-photo",),
                 description="Amazon Photo: 7,650 nodes, 8 classes")
register_dataset("karate", _karate, default_split="public", aliases=("karateclub",),
                 description="Zachary's karate club (bundled with PyG)")
register_dataset("synthetic", _synthetic, aliases=("csbm",),
                 description="seeded contextual SBM, e.g. synthetic:nodes=2000,classes=4 "
                             "(model=dcsbm: power-law degrees)")
register_dataset("synthetic-arxiv", _preset("synthetic-arxiv"), default_split="0.54/0.18/0.28",
                 description="DC-SBM at ogbn-arxiv scale: 169,343 nodes, avg degree 13.7, "
                             "128 features, 40 classes (overrides: synthetic-arxiv:nodes=50000)")
register_dataset("synthetic-products", _preset("synthetic-products"), default_split="0.08/0.02/0.9",
                 description="DC-SBM at ogbn-products scale: 2,449,029 nodes, 61,859,140 edges, "
                             "100 features, 47 classes")


def dataset_info(name: str) -> DatasetInfo:
    """The registered dataset ``name`` (options after a colon are ignored), without
    loading it: a bad name fails before any work.

    Raises:
        UnknownNameError: the name is not registered (the message lists the names).
    """
    if not isinstance(name, str) or not name:
        raise UnknownNameError(f"dataset name must be a non-empty string, got {name!r}")
    key = normalize(name.partition(":")[0])
    _load_providers()
    if key not in _DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; choose one of: {', '.join(dataset_names())}")
    return _DATASETS[key]


def load_dataset(name: str, root: str | os.PathLike | None = None, split: str | None = None,
                 seed: int = 0, **kwargs: Any) -> Data:
    """Loads a dataset as one PyG ``Data`` with ``train_mask``/``val_mask``/``test_mask``
    and ``num_classes``.

    Args:
        name: case-insensitive name (:func:`dataset_names`); ``synthetic:k=v,...`` passes
            generator parameters (see :func:`graphforget.data.parse_synthetic`);
            ``synthetic-arxiv:nodes=50000`` overrides a preset's.
        root: data root (default: ``$GRAPHFORGET_DATA``, else a user cache where PyG
            downloads). A read-only root is read through a writable cache.
        split: ``"public"`` / ``"full"`` (Planetoid), or ratios ``"0.8/0.2"`` (train/test)
            and ``"0.6/0.2/0.2"`` (train/val/test). (default: the dataset's usual split)
        seed: seeds random splits and synthetic graphs. (default: :obj:`0`)
        **kwargs: loader options. ``normalize=True`` (or the name ``"cora:normalize"``)
            scales the features: Planetoid sets (Cora, CiteSeer, PubMed) row by row to sum
            1, as PyG's ``NormalizeFeatures`` in its usual examples; tabular sets to unit
            L2 norm (:mod:`graphforget.data.tabular`).

    Features are returned **raw** unless asked otherwise: Planetoid's are binary
    bag-of-words vectors (PyG's examples normalise them; pass ``normalize=True`` to do
    the same). An unknown option after the colon is an error.
    """
    if not isinstance(name, str) or not name:
        raise UnknownNameError(f"dataset name must be a non-empty string, got {name!r}")
    base, _, spec = name.partition(":")
    info = dataset_info(name)
    split = split or info.default_split
    if spec:
        kwargs["spec"] = spec
    try:
        data = info.loader(root, split, seed, **kwargs)
    except GraphForgetError:
        raise
    except Exception as exc:  # noqa: BLE001 - missing files, failed downloads, bad archives
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise GraphForgetError(
            f"could not load dataset {info.name!r} ({type(exc).__name__}: {first}); "
            "its raw files are not under the data root and the download failed: "
            "set GRAPHFORGET_DATA or pass root=") from exc
    data.dataset_name = info.name
    return data
