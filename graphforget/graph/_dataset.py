r"""The graph-classification data object and the TU datasets.

A :class:`GraphDataset` is a list of PyG :class:`~torch_geometric.data.Data` graphs plus
graph-level split masks, following the library's node conventions one level up:

* **indices never change.** A forgotten graph keeps its index; its content is emptied
  (no nodes, no edges), it leaves every ``*_mask`` and it is flagged in
  ``forgotten_mask`` (one flag per graph), so forgetting it twice is an error;
* inside a graph, a forgotten node keeps its local id: its features are zeroed, its
  incident edges dropped, and it is flagged in the graph's node-level ``forgotten_mask``.
  Pooling (GST and the GNN classifiers) averages over the *retained* nodes only, so a
  forgotten node contributes exactly nothing, as if it had been deleted;
* graphs are never mutated in place: a request builds new ``Data`` objects for the
  graphs it touches and shares the others.

For code written against a single ``Data`` (samplers, the conformance suite), the
dataset also exposes the disjoint union of all graphs as ``x``, ``edge_index`` and
``num_nodes`` (global node ids, graph ``i`` occupying ``node_ptr[i]:node_ptr[i+1]``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError

__all__ = ["GraphDataset", "load_tu_dataset", "graph_split", "synthetic_graphs", "TU_DATASETS"]

#: CLI name -> PyG TUDataset name
TU_DATASETS = {"mutag": "MUTAG", "proteins": "PROTEINS", "imdb-binary": "IMDB-BINARY",
               "imdb-multi": "IMDB-MULTI"}

_PREFIX = "gd_"  # keys of the flat state (kept apart from Data's special names)


def _prepare(graph: Data) -> Data:
    """A graph with exactly the fields the graph task uses (``x``, ``edge_index``,
    node-level ``forgotten_mask``)."""
    if graph.x is None:
        raise GraphForgetError("every graph needs node features x (use degree features)")
    n = int(graph.x.size(0))
    ei = graph.edge_index if graph.edge_index is not None else torch.empty(2, 0, dtype=torch.long)
    fm = getattr(graph, "forgotten_mask", None)
    if fm is None:
        fm = torch.zeros(n, dtype=torch.bool)
    return Data(x=graph.x.float(), edge_index=ei.long(), forgotten_mask=fm.bool(), num_nodes=n)


class GraphDataset:
    r"""Graphs with graph-level labels and split masks (the graph task's data object).

    Args:
        graphs (list of Data): graphs with ``x`` and ``edge_index`` (a node-level
            ``forgotten_mask`` is added when missing).
        y (LongTensor ``[G]``, optional): graph labels. (default: each graph's ``y``)
        train_mask, val_mask, test_mask (BoolTensor ``[G]``, optional): graph splits.
            (default: all graphs train / none / none)
        forgotten_mask (BoolTensor ``[G]``, optional): forgotten graphs. (default: none)
        num_classes (int, optional): number of classes. (default: ``max(y) + 1``)
        name (str): dataset name. (default: ``""``)
    """

    def __init__(self, graphs: Sequence[Data], y: Tensor | None = None,
                 train_mask: Tensor | None = None, val_mask: Tensor | None = None,
                 test_mask: Tensor | None = None, forgotten_mask: Tensor | None = None,
                 num_classes: int | None = None, name: str = "") -> None:
        if len(graphs) == 0:
            raise GraphForgetError("a GraphDataset needs at least one graph")
        if y is None:
            if any(getattr(g, "y", None) is None for g in graphs):
                raise GraphForgetError("graph labels missing: pass y= or set y on every graph")
            y = torch.cat([g.y.view(-1)[:1] for g in graphs])
        self.graphs = [_prepare(g) for g in graphs]
        G = len(self.graphs)
        self.y = torch.as_tensor(y).long().view(-1)
        if self.y.numel() != G:
            raise GraphForgetError(f"y has {self.y.numel()} labels for {G} graphs")
        zeros = torch.zeros(G, dtype=torch.bool)
        self.train_mask = torch.ones(G, dtype=torch.bool) if train_mask is None else train_mask.bool()
        self.val_mask = zeros.clone() if val_mask is None else val_mask.bool()
        self.test_mask = zeros.clone() if test_mask is None else test_mask.bool()
        self.forgotten_mask = zeros.clone() if forgotten_mask is None else forgotten_mask.bool()
        for key in ("train_mask", "val_mask", "test_mask", "forgotten_mask"):
            if getattr(self, key).shape != (G,):
                raise GraphForgetError(f"{key} must have shape [{G}], got {tuple(getattr(self, key).shape)}")
        dims = {int(g.x.size(1)) for g in self.graphs}
        if len(dims) != 1:
            raise GraphForgetError(f"graphs have different feature sizes: {sorted(dims)}")
        self.num_classes = int(self.y.max()) + 1 if num_classes is None else int(num_classes)
        self.name = name
        self._union: tuple[Tensor, Tensor, Tensor, Tensor] | None = None

    # -- basics ---------------------------------------------------------------------
    @property
    def num_graphs(self) -> int:
        return len(self.graphs)

    @property
    def num_features(self) -> int:
        return int(self.graphs[0].x.size(1))

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, str):
            return getattr(self, key)
        return self.graphs[int(key)]

    def __repr__(self) -> str:
        return (f"GraphDataset({self.name or 'graphs'}: {self.num_graphs} graphs, "
                f"{self.num_features} features, {self.num_classes} classes, "
                f"train/val/test={int(self.train_mask.sum())}/{int(self.val_mask.sum())}/"
                f"{int(self.test_mask.sum())}, forgotten={int(self.forgotten_mask.sum())})")

    def clone(self) -> GraphDataset:
        """A copy sharing the (immutable) graphs, with its own masks and list."""
        out = GraphDataset.__new__(GraphDataset)
        out.graphs = list(self.graphs)
        out.y = self.y.clone()
        for key in ("train_mask", "val_mask", "test_mask", "forgotten_mask"):
            setattr(out, key, getattr(self, key).clone())
        out.num_classes, out.name, out._union = self.num_classes, self.name, None
        return out

    def replace(self, index: int, graph: Data) -> None:
        """Puts a new graph at ``index`` (used by requests on their own copy)."""
        self.graphs[index] = graph
        self._union = None

    @property
    def train_index(self) -> Tensor:
        return self.train_mask.nonzero().view(-1)

    # -- the disjoint union ----------------------------------------------------------
    def collate(self, index: Tensor | Sequence[int] | None = None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(x, edge_index, batch, node_keep)`` of the disjoint union of the graphs in
        ``index`` (all graphs by default); ``batch[v]`` is the position in ``index``."""
        idx = range(self.num_graphs) if index is None else [int(i) for i in index]
        graphs = [self.graphs[i] for i in idx]
        sizes = torch.tensor([int(g.x.size(0)) for g in graphs], dtype=torch.long)
        offsets = torch.cumsum(sizes, 0) - sizes
        x = torch.cat([g.x for g in graphs]) if graphs else torch.empty(0, self.num_features)
        ei = torch.cat([g.edge_index + off for g, off in zip(graphs, offsets.tolist(), strict=False)], dim=1) \
            if graphs else torch.empty(2, 0, dtype=torch.long)
        batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes)
        keep = ~torch.cat([g.forgotten_mask for g in graphs]) if graphs else torch.empty(0, dtype=torch.bool)
        return x, ei, batch, keep

    def _all(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if self._union is None:
            self._union = self.collate()
        return self._union

    @property
    def x(self) -> Tensor:
        """Node features of the disjoint union of all graphs."""
        return self._all()[0]

    @property
    def edge_index(self) -> Tensor:
        """Edges of the disjoint union of all graphs (global node ids)."""
        return self._all()[1]

    @property
    def num_nodes(self) -> int:
        """Nodes of the disjoint union of all graphs."""
        return int(self._all()[0].size(0))

    @property
    def node_ptr(self) -> Tensor:
        sizes = torch.tensor([int(g.x.size(0)) for g in self.graphs], dtype=torch.long)
        return torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(sizes, 0)])

    # -- state ---------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Flat dict of tensors/numbers/strings (``weights_only``-loadable)."""
        x, ei, batch, keep = self.collate()
        edge_counts = torch.tensor([int(g.edge_index.size(1)) for g in self.graphs], dtype=torch.long)
        local_ei = torch.cat([g.edge_index for g in self.graphs], dim=1)
        p = _PREFIX
        return {p + "x": x.clone(), p + "edges": local_ei.clone(), p + "node_ptr": self.node_ptr,
                p + "edge_counts": edge_counts, p + "node_forgotten": ~keep, p + "y": self.y.clone(),
                p + "train_mask": self.train_mask.clone(), p + "val_mask": self.val_mask.clone(),
                p + "test_mask": self.test_mask.clone(),
                p + "forgotten_mask": self.forgotten_mask.clone(),
                p + "num_classes": int(self.num_classes), p + "name": str(self.name)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GraphDataset:
        p = _PREFIX
        try:
            x, edges, ptr = state[p + "x"], state[p + "edges"], state[p + "node_ptr"]
            counts, nf = state[p + "edge_counts"], state[p + "node_forgotten"]
        except KeyError as exc:
            raise GraphForgetError(f"not a GraphDataset state (missing {exc})") from None
        graphs, e0 = [], 0
        for i in range(ptr.numel() - 1):
            lo, hi = int(ptr[i]), int(ptr[i + 1])
            e1 = e0 + int(counts[i])
            graphs.append(Data(x=x[lo:hi], edge_index=edges[:, e0:e1], forgotten_mask=nf[lo:hi],
                               num_nodes=hi - lo))
            e0 = e1
        return cls(graphs, y=state[p + "y"], train_mask=state[p + "train_mask"],
                   val_mask=state[p + "val_mask"], test_mask=state[p + "test_mask"],
                   forgotten_mask=state[p + "forgotten_mask"],
                   num_classes=int(state[p + "num_classes"]), name=str(state[p + "name"]))

    @staticmethod
    def is_state(state: Any) -> bool:
        try:
            return (_PREFIX + "node_ptr") in state
        except TypeError:
            return False


# ---------------------------------------------------------------------------
# splits and loading
# ---------------------------------------------------------------------------
def graph_split(data: GraphDataset, split: str, seed: int = 0) -> GraphDataset:
    """Seeded random graph-level split from ratios: ``"0.1/0.1/0.8"`` (train/val/test,
    Pan et al.) or ``"0.8/0.2"`` (train/test, OpenGU)."""
    from graphforget.data._datasets import _parse_ratios

    parts = _parse_ratios(split)
    if len(parts) == 2:
        parts = [parts[0], 0.0, parts[1]]
    G = data.num_graphs
    perm = torch.randperm(G, generator=torch.Generator().manual_seed(int(seed)))
    n_train, n_val = int(round(parts[0] * G)), int(round(parts[1] * G))
    out = data.clone()
    masks = []
    for lo, hi in ((0, n_train), (n_train, n_train + n_val), (n_train + n_val, G)):
        m = torch.zeros(G, dtype=torch.bool)
        m[perm[lo:hi]] = True
        masks.append(m)
    out.train_mask, out.val_mask, out.test_mask = masks
    if int(out.train_mask.sum()) == 0:
        raise GraphForgetError(f"split {split!r} leaves no training graph out of {G}")
    return out


def _degree_features(graphs: list[Data], mode: str) -> list[Data]:
    from torch_geometric.utils import degree

    degs = [degree(g.edge_index[0], int(g.num_nodes), dtype=torch.long) for g in graphs]
    max_deg = max(int(d.max()) if d.numel() else 0 for d in degs)
    if mode == "auto":
        mode = "onehot" if max_deg < 1000 else "normalized"  # PyG's / the official code's rule
    out = []
    for g, d in zip(graphs, degs, strict=False):
        g = g.clone()
        if mode == "onehot":
            g.x = torch.nn.functional.one_hot(d, max_deg + 1).float()
        elif mode == "normalized":
            g.x = (d.float() / max(max_deg, 1)).view(-1, 1)  # in [0, 1]: rows keep norm <= 1
        else:
            raise GraphForgetError(f"degree features must be 'auto', 'onehot' or 'normalized', got {mode!r}")
        out.append(g)
    return out


def load_tu_dataset(name: str, root: str | os.PathLike | None = None, split: str = "0.1/0.1/0.8",
                    seed: int = 0, degree_features: str = "auto") -> GraphDataset:
    r"""Loads a TU dataset (MUTAG, PROTEINS, IMDB-BINARY, IMDB-MULTI) as a :class:`GraphDataset`.

    Raw files are read from ``<root>/TUDataset/<NAME>/raw`` through
    :func:`graphforget.data.dataset_dir` (a read-only shared root is mirrored into a
    writable cache, never written). Node labels become one-hot features (every row has
    norm 1, as the certified bounds assume); datasets without node features (IMDB) get
    one-hot degrees, or degrees divided by the maximum degree when it is 1000 or more.
    Edge attributes are dropped.

    Args:
        name: ``mutag``, ``proteins``, ``imdb-binary`` or ``imdb-multi`` (or the TU name).
        root: data root (default ``$GRAPHFORGET_DATA``).
        split: graph-level ratios. (default: ``"0.1/0.1/0.8"``, Pan et al.)
        seed: seeds the split. (default: :obj:`0`)
        degree_features: ``"auto"``, ``"onehot"`` or ``"normalized"``. (default: ``"auto"``)
    """
    from torch_geometric.datasets import TUDataset

    from graphforget._registry import normalize
    from graphforget.data._root import dataset_dir

    by_key = {normalize(k): v for k, v in TU_DATASETS.items()}
    tu = by_key.get(normalize(name))
    if tu is None:
        raise GraphForgetError(f"unknown TU dataset {name!r}; choose one of: {', '.join(TU_DATASETS)}")
    ds = TUDataset(dataset_dir("TUDataset", root), name=tu)
    graphs = [ds[i] for i in range(len(ds))]
    if graphs[0].x is None:
        graphs = _degree_features(graphs, degree_features)
    data = GraphDataset(graphs, y=torch.cat([g.y.view(-1) for g in graphs]),
                        num_classes=int(ds.num_classes), name=tu)
    return graph_split(data, split, seed)


def synthetic_graphs(num_graphs: int = 40, min_nodes: int = 5, max_nodes: int = 10,
                     split: str = "0.6/0.2/0.2", seed: int = 0) -> GraphDataset:
    """A seeded two-class toy set for tests and examples: class 0 graphs are cycles with a
    few random chords, class 1 graphs are trees (random recursive trees); node features
    are one-hot degrees (capped at 4)."""
    g = torch.Generator().manual_seed(int(seed))
    graphs, labels = [], []
    for i in range(int(num_graphs)):
        n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=g))
        label = i % 2
        if label == 0:
            src = torch.arange(n)
            dst = (src + 1) % n
            chords = torch.randint(0, n, (2, 1), generator=g)
            src, dst = torch.cat([src, chords[0]]), torch.cat([dst, chords[1]])
        else:
            dst = torch.arange(1, n)
            src = torch.cat([torch.randint(0, int(v), (1,), generator=g) for v in dst])
        keep = src != dst
        ei = torch.stack([src[keep], dst[keep]])
        ei = torch.unique(torch.cat([ei, ei.flip(0)], dim=1), dim=1)
        deg = torch.bincount(ei[0], minlength=n).clamp_max(4)
        graphs.append(Data(x=torch.nn.functional.one_hot(deg, 5).float(), edge_index=ei, num_nodes=n))
        labels.append(label)
    data = GraphDataset(graphs, y=torch.tensor(labels), num_classes=2, name="synthetic-graphs")
    return graph_split(data, split, seed)


def _tu_loader(key: str) -> Any:
    def load(root: Any, split: str, seed: int, **kwargs: Any) -> GraphDataset:
        return load_tu_dataset(key, root, split, seed, **kwargs)

    return load


def _register() -> None:
    from graphforget.data._datasets import register_dataset

    sizes = {"mutag": "188 molecules, 2 classes", "proteins": "1,113 proteins, 2 classes",
             "imdb-binary": "1,000 ego-networks, 2 classes", "imdb-multi": "1,500 ego-networks, 3 classes"}
    for key, tu in TU_DATASETS.items():
        register_dataset(key, _tu_loader(key), task="graph", default_split="0.1/0.1/0.8",
                         description=f"TUDataset {tu}: {sizes[key]} (graph classification)",
                         aliases=(tu,))


_register()
