r"""Open Graph Benchmark datasets (Hu et al., NeurIPS 2020, https://ogb.stanford.edu):
``ogbn-arxiv`` and ``ogbn-products`` for node classification, ``ogbl-collab`` for link
prediction, with their official splits and the OGB ``Evaluator`` as utility metric.

They load through the optional ``ogb`` package (``pip install graphforget[ogb]``) from
``<data root>/<ogbn_arxiv|ogbn_products|ogbl_collab>/`` in OGB's own layout (``raw/``,
``split/<type>/``, ``RELEASE_v<k>.txt``; ``processed/`` is built on first load), which is
what OGB leaves there after a download. The data root resolves as for every dataset
(:func:`graphforget.data.dataset_dir`): a read-only root is read through a writable
cache; a missing folder is downloaded by OGB (no confirmation prompt: naming the dataset
is the request). A folder without its release marker is refused instead of letting OGB
ask on stdin whether to delete it.

Conversions, so that every method sees the usual graphforget ``Data``:

* node sets: ``x`` as float, ``y`` flattened to ``[n]``, the graph made undirected and
  deduplicated (ogbn-arxiv is a directed citation graph; requests and backbones here
  treat edges as undirected), official ``train/valid/test`` indices as
  ``train_mask/val_mask/test_mask`` (``split="official"``, the default; ratio splits
  also work);
* ``ogbl-collab``: the link-task format of :func:`graphforget.link.link_split` with the
  official edges: ``edge_index`` is the training graph (the yearly multi-edges collapsed
  to one undirected, unweighted edge), ``val_pos/val_neg/test_pos/test_neg`` the official
  positives and negatives (``[2, k]``). Validation edges are not added to the graph at
  test time (OGB allows it; the leaderboard numbers that do so are not comparable).

Every loaded graph carries ``ogb_name``; :func:`utility_evaluator` turns it into an
:class:`OGBEvaluator`, which the ``node`` and ``link`` bench tasks use for their utility
(``ogb_acc`` and ``hits@50``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.data._datasets import register_dataset, split_masks
from graphforget.data._root import data_root, dataset_dir
from graphforget.data._synthetic import undirected_edges
from graphforget.errors import GraphForgetError

__all__ = ["OGB_DATASETS", "OGBEvaluator", "utility_evaluator", "ogb_root"]

#: dataset -> (task, metric name in records)
OGB_DATASETS: dict[str, tuple[str, str]] = {
    "ogbn-arxiv": ("node", "ogb_acc"),
    "ogbn-products": ("node", "ogb_acc"),
    "ogbl-collab": ("link", "hits@50"),
}
_PACKAGE = {"node": "nodeproppred", "link": "linkproppred"}


def _require_ogb(name: str) -> Any:
    try:
        return importlib.import_module("ogb")
    except ImportError:
        raise GraphForgetError(f"dataset {name!r} needs the optional 'ogb' package: "
                               "pip install graphforget[ogb]") from None


def _meta(name: str) -> Any:
    """The dataset's row of OGB's bundled ``master.csv`` (version, split type, metric)."""
    import pandas as pd

    _require_ogb(name)
    module = importlib.import_module(f"ogb.{_PACKAGE[OGB_DATASETS[name][0]]}")
    master = pd.read_csv(Path(module.__file__).parent / "master.csv", index_col=0, keep_default_na=False)
    return master[name]


def ogb_root(name: str, root: Any = None) -> str:
    """The ``root`` to hand to OGB's dataset class for ``name`` (the folder holding
    ``<name with underscores>/``), through :func:`~graphforget.data.dataset_dir`.

    Raises :class:`GraphForgetError` when the dataset folder exists without the release
    marker of the version this ``ogb`` expects (OGB would ask on stdin whether to delete it).
    """
    folder = name.replace("-", "_")
    base = data_root(root)
    if (base / f"{folder}_pyg").is_dir():  # OGB prefers an older '<name>_pyg' download
        folder = f"{folder}_pyg"
    version = str(_meta(name)["version"])
    src = base / folder
    if src.is_dir() and not (src / f"RELEASE_v{version}.txt").exists():
        found = sorted(p.name for p in src.glob("RELEASE_v*.txt"))
        raise GraphForgetError(
            f"{src} is not a complete {name} release v{version} (release markers found: "
            f"{found or 'none'}): remove the folder to download it again, or restore its files")
    return str(Path(dataset_dir(folder, root, create=False)).parent)


def _trusted_globals() -> list[Any]:
    """What OGB's files pickle besides tensors: PyG ``Data`` internals and numpy arrays
    (allow-listed for ``torch.load(weights_only=True)``, the default since torch 2.6)."""
    import numpy as np
    from torch_geometric.data import data as pyg_data
    from torch_geometric.data import storage as pyg_storage

    out: list[Any] = [Data, pyg_data.DataEdgeAttr, pyg_data.DataTensorAttr, pyg_storage.GlobalStorage,
                      np.ndarray, np.dtype]
    core = getattr(np, "_core", None) or np.core
    reconstruct = core.multiarray._reconstruct
    # files pickled under numpy 1 name it numpy.core..., under numpy 2 numpy._core...
    out += [(reconstruct, "numpy.core.multiarray._reconstruct"),
            (reconstruct, "numpy._core.multiarray._reconstruct")]
    out += [type(np.dtype(t)) for t in ("int64", "int32", "float32", "float64", "bool")]
    return out


@contextlib.contextmanager
def _ogb_loading(name: str, root: str) -> Iterator[None]:
    """OGB's loaders, non-interactive and under torch's safe loading: the download
    confirmation (asked for files over 1 GB) answers yes, since the user named the dataset.

    A dataset folder this call creates is removed again if loading fails (a failed
    download leaves an empty ``raw/``, which would otherwise read as a broken release).
    """
    module = importlib.import_module(f"ogb.{_PACKAGE[OGB_DATASETS[name][0]]}.dataset_pyg")
    folder = Path(root) / name.replace("-", "_")
    existed = folder.exists()
    original = module.decide_download
    module.decide_download = lambda url: True
    try:
        with torch.serialization.safe_globals(_trusted_globals()):
            yield
    except BaseException:
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        module.decide_download = original


def _as_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else torch.as_tensor(value)


def _undirected(edge_index: Tensor, num_nodes: int) -> Tensor:
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    keep = lo != hi
    return undirected_edges(lo[keep] * int(num_nodes) + hi[keep], num_nodes)


def _node_loader(name: str) -> Callable[..., Data]:
    def load(root: Any, split: str, seed: int, **_: Any) -> Data:
        _require_ogb(name)
        from ogb.nodeproppred import PygNodePropPredDataset

        where = ogb_root(name, root)
        with _ogb_loading(name, where):
            dataset = PygNodePropPredDataset(name=name, root=where)
            index = dataset.get_idx_split() if split in ("official", "public") else None
        raw = dataset[0]
        num_classes = int(dataset.num_classes)
        del dataset
        n = int(raw.num_nodes)
        data = Data(x=raw.x.float(), edge_index=_undirected(raw.edge_index, n),
                    y=raw.y.view(-1).long(), num_nodes=n)
        if index is not None:
            masks = []
            for key in ("train", "valid", "test"):
                mask = torch.zeros(n, dtype=torch.bool)
                mask[_as_tensor(index[key]).long()] = True
                masks.append(mask)
        else:
            masks = list(split_masks(n, split, seed))
        data.train_mask, data.val_mask, data.test_mask = masks
        data.num_classes = num_classes
        data.ogb_name = name
        return data

    return load


def _link_loader(name: str) -> Callable[..., Data]:
    def load(root: Any, split: str, seed: int, **_: Any) -> Data:
        if split not in ("official", "public"):
            raise GraphForgetError(f"{name} has an official edge split only; got split={split!r}")
        _require_ogb(name)
        from ogb.linkproppred import PygLinkPropPredDataset

        where = ogb_root(name, root)
        with _ogb_loading(name, where):
            dataset = PygLinkPropPredDataset(name=name, root=where)
            edges = dataset.get_edge_split()
        raw = dataset[0]
        del dataset
        n = int(raw.num_nodes)
        train = _as_tensor(edges["train"]["edge"]).long().t()
        data = Data(x=raw.x.float() if raw.x is not None else None,
                    edge_index=_undirected(train, n), num_nodes=n)
        for ours, theirs in (("val", "valid"), ("test", "test")):
            data[f"{ours}_pos"] = _as_tensor(edges[theirs]["edge"]).long().t().contiguous()
            data[f"{ours}_neg"] = _as_tensor(edges[theirs]["edge_neg"]).long().t().contiguous()
        data.train_mask = torch.ones(n, dtype=torch.bool)
        data.ogb_name = name
        return data

    return load


class OGBEvaluator:
    """The official OGB ``Evaluator`` of one dataset, as a bench utility.

    Attributes:
        name: the OGB dataset name.
        task: ``"node"`` or ``"link"``.
        metric: the record's ``utility_metric``: ``ogb_acc`` or ``hits@50``.
    """

    def __init__(self, name: str) -> None:
        if name not in OGB_DATASETS:
            raise GraphForgetError(f"no OGB evaluator for {name!r}; known: {', '.join(OGB_DATASETS)}")
        self.name = name
        self.task, self.metric = OGB_DATASETS[name]
        _require_ogb(name)
        module = importlib.import_module(f"ogb.{_PACKAGE[self.task]}")
        self._evaluator = module.Evaluator(name)
        self._key = self._evaluator.eval_metric  # 'acc' or 'hits@50'

    def serves(self, task: Any) -> bool:
        """Whether this evaluator measures ``task`` (a :class:`~graphforget.Task` or its value)."""
        return str(getattr(task, "value", task)) == self.task

    def node_metric(self, y_true: Tensor, y_pred: Tensor) -> float:
        """Accuracy of predicted labels ``y_pred`` against ``y_true`` (``[k]`` each)."""
        if self.task != "node":
            raise GraphForgetError(f"{self.name} is a link dataset: use link_metric")
        result = self._evaluator.eval({"y_true": y_true.view(-1, 1).cpu(), "y_pred": y_pred.view(-1, 1).cpu()})
        return float(result[self._key])

    def link_metric(self, pos_scores: Tensor, neg_scores: Tensor) -> float:
        """Hits@K: the share of positive pairs scored above the K-th best negative."""
        if self.task != "link":
            raise GraphForgetError(f"{self.name} is a node dataset: use node_metric")
        result = self._evaluator.eval({"y_pred_pos": pos_scores.detach().view(-1).cpu(),
                                       "y_pred_neg": neg_scores.detach().view(-1).cpu()})
        return float(result[self._key])


@functools.lru_cache(maxsize=8)
def _evaluator(name: str) -> OGBEvaluator:
    return OGBEvaluator(name)


def utility_evaluator(data: Any) -> OGBEvaluator | None:
    """The evaluator a graph asks to be measured with (``data.ogb_name``), else None."""
    name = getattr(data, "ogb_name", None)
    return _evaluator(name) if isinstance(name, str) and name else None


register_dataset("ogbn-arxiv", _node_loader("ogbn-arxiv"), default_split="official",
                 description="OGB arXiv citations: 169,343 nodes, 40 classes, time split (needs ogb)")
register_dataset("ogbn-products", _node_loader("ogbn-products"), default_split="official",
                 description="OGB Amazon co-purchases: 2,449,029 nodes, 47 classes, sales-rank split "
                             "(needs ogb)")
register_dataset("ogbl-collab", _link_loader("ogbl-collab"), task="link", default_split="official",
                 description="OGB author collaborations: 235,868 nodes, time split, Hits@50 (needs ogb)")
