r"""GUIDE's guided partition (Wang, Huai & Wang, "Inductive Graph Unlearning", USENIX
Security 2023): balanced, label-fair shards from a spectral relaxation solved by
generalised power iteration (GPI).

With :math:`W = D^{-1/2} A D^{-1/2}` the normalised adjacency of the (training) graph,
:math:`\mathbf{1}` the all-ones vector, :math:`p` the class proportions and
:math:`\tilde C = (C - \mathbf 1 p^\top)\,\mathrm{diag}(p)^{-1/2}` the centred, whitened
one-hot labels, a discrete partition :math:`Y \in \{0,1\}^{n \times k}` with scaled
indicator :math:`F = Y (Y^\top Y)^{-1/2}` should keep edges inside shards (large
:math:`\mathrm{tr}(F^\top W F)`), have equal shard sizes (small :math:`\|\mathbf{1}^\top
Y\|^2`, minimal iff all :math:`|S_j| = n/k`) and the same label histogram in every shard:
:math:`\|\tilde C^\top F\|_F^2 = \sum_{j,c} (n_{cj} - p_c n_j)^2 / (p_c n_j)` is Pearson's
:math:`\chi^2` statistic of the shard :math:`\times` label table, zero iff every shard has
the global label histogram. Relaxing :math:`F` to any orthonormal :math:`H`:

.. math::
    \max_{H^\top H = I_k}\; J(H) = \mathrm{tr}\big(H^\top M H\big), \qquad
    M = W + \gamma I - \tfrac{\alpha}{n}\mathbf{1}\mathbf{1}^\top
        - \tfrac{\beta}{n} \tilde C \tilde C^\top, \quad \gamma = 1 + \alpha + \beta

(:math:`\gamma` only shifts :math:`J` by :math:`\gamma k`; it makes :math:`M` positive
semi-definite, since :math:`W \succeq -I`, :math:`\tfrac1n\mathbf 1\mathbf 1^\top \preceq I`
and :math:`\tfrac1n \tilde C\tilde C^\top = I - \sqrt p\sqrt p^\top \preceq I` on the
label space). Whitening makes :math:`\beta` mean the same on any label distribution: a
direction of :math:`H` fully explained by the labels pays :math:`\beta` whatever the
number of classes (the plain :math:`\tfrac1n C C^\top` penalises it only by about
:math:`p_c \le 1/c`, so homophilous graphs with many classes get label-pure shards).
GPI (Nie, Zhang & Li, 2017) iterates

.. math::
    H_{t+1} = \mathrm{polar}(M H_t) = U V^\top, \qquad M H_t = U \Sigma V^\top,

which never decreases :math:`J` for PSD :math:`M`. With ``torch.linalg.svd`` returning
``U, S, Vh`` (``Vh`` :math:`= V^\top`), the polar factor is ``U @ Vh``; the official
notebooks compute ``U @ Vh.T``, which is not orthogonal-Procrustes optimal. :math:`MH`
is one sparse product plus two rank-:math:`\le c+1` corrections: no :math:`n\times n`
matrix is formed.

* **Fast**: GPI, then k-means on the rows of :math:`H` (k-means++ seeding;
  overfull shards then hand their worst-placed nodes to the smallest ones).
* **SR** (spectral rotation): starting from Fast's :math:`Y`, alternate
  :math:`R = \mathrm{polar}(H^\top F)` (the rotation aligning :math:`H` with the indicator),
  :math:`Y` = arg-max of the rows of :math:`HR` under the shard capacity, and GPI steps on :math:`J(H) + 2\lambda\,\mathrm{tr}(H^\top F R^\top)`
  (:math:`H \leftarrow \mathrm{polar}(MH + \lambda F R^\top)`), until no node changes shard
  or ``sr_iter`` outer iterations (the official SR loop exits after one).

Nodes without edges in the partitioned graph carry no structural signal (their rows of
:math:`W` vanish); they are left out of the relaxation and dealt, class by class, to
the shards that are currently smallest (water filling), which restores balance and
label fairness.
"""

from __future__ import annotations

import heapq
import warnings
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

from graphforget.errors import GraphForgetError
from graphforget.partition._balance import rebalance
from graphforget.partition._base import Partitioner, capacity, register_partitioner

__all__ = ["GUIDEPartitioner", "polar", "gpi", "guide_objective"]


def polar(m: Tensor) -> Tensor:
    r"""The orthonormal polar factor :math:`UV^\top` of ``m`` (``[n, k]``, :math:`n\ge k`):
    the orthonormal matrix closest to ``m`` (and maximising :math:`\mathrm{tr}(Q^\top m)`)."""
    u, _, vh = torch.linalg.svd(m, full_matrices=False)
    return u @ vh  # Vh is already V^T: multiplying by Vh.T (the official code) is wrong


class _Operator:
    """:math:`H \\mapsto MH` with ``M`` as in the module docs, without forming ``M``."""

    def __init__(self, edge_index: Tensor, n: int, labels: Tensor | None, alpha: float,
                 beta: float) -> None:
        deg = torch.bincount(edge_index[0], minlength=n).double()
        inv = deg.clamp_min(1).pow(-0.5)
        w = inv[edge_index[0]] * inv[edge_index[1]]
        with warnings.catch_warnings():  # torch's "sparse CSR is beta" notice
            warnings.simplefilter("ignore")
            self.w = torch.sparse_coo_tensor(edge_index, w, (n, n)).coalesce().to_sparse_csr()
        self.n, self.alpha, self.beta = n, float(alpha), float(beta)
        self.onehot = None
        if labels is not None and self.beta > 0:
            onehot = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).double()
            p = onehot.mean(0)
            onehot, p = onehot[:, p > 0], p[p > 0]  # classes absent here carry no constraint
            self.onehot = (onehot - p) / p.sqrt()  # whitened: (C - 1 p^T) diag(p)^{-1/2}
        self.gamma = 1.0 + self.alpha + self.beta

    def __call__(self, h: Tensor) -> Tensor:
        out = self.w @ h + self.gamma * h
        if self.alpha:
            out = out - (self.alpha / self.n) * h.sum(0, keepdim=True).expand_as(h)
        if self.onehot is not None:
            out = out - (self.beta / self.n) * (self.onehot @ (self.onehot.t() @ h))
        return out

    def objective(self, h: Tensor) -> float:
        """:math:`J(H) = \\mathrm{tr}(H^\\top M H)` (including the constant shift)."""
        return float((h * self(h)).sum())


def guide_objective(edge_index: Tensor, num_nodes: int, h: Tensor, labels: Tensor | None = None,
                    alpha: float = 1.0, beta: float = 1.0) -> float:
    """:math:`J(H)` of the module docs for ``h`` (``[n, k]``) on a symmetric graph."""
    return _Operator(edge_index, num_nodes, labels, alpha, beta).objective(h.double())


def gpi(op: _Operator, h: Tensor, max_iter: int, tol: float, linear: Tensor | None = None
        ) -> tuple[Tensor, list[float]]:
    r"""Generalised power iteration for :math:`\max_{H^\top H=I}\mathrm{tr}(H^\top MH) +
    2\,\mathrm{tr}(H^\top B)` (``linear`` = :math:`B`). Returns :math:`H` and the objective
    after every iteration; stops when the relative change drops below ``tol``."""
    trace: list[float] = []
    prev = None
    for _ in range(int(max_iter)):
        mh = op(h)
        h = polar(mh if linear is None else mh + linear)
        value = op.objective(h) + (0.0 if linear is None else 2.0 * float((h * linear).sum()))
        trace.append(value)
        if prev is not None and abs(value - prev) <= tol * max(abs(prev), 1e-12):
            break
        prev = value
    return h, trace


def _scaled_indicator(assign: Tensor, k: int) -> Tensor:
    sizes = torch.bincount(assign, minlength=k).double().clamp_min(1)
    f = torch.zeros(assign.numel(), k, dtype=torch.float64)
    f[torch.arange(assign.numel()), assign] = sizes[assign].rsqrt()
    return f


def _capped(score: Tensor, k: int, cap: int) -> Tensor:
    """Arg-max assignment of ``score`` (``[n, k]``), then the overfull shards hand their
    least well-placed nodes to the smallest shards (:func:`rebalance`)."""
    assign = score.argmax(1)
    priority = -score.gather(1, assign.view(-1, 1)).view(-1)
    assign, _ = rebalance(assign, k, cap, 1, priority)
    return assign


def _kmeans(points: Tensor, k: int, cap: int, g: torch.Generator, max_iter: int
            ) -> tuple[Tensor, int]:
    """Lloyd's k-means (k-means++ seeding) with a capacity-constrained final assignment."""
    n = points.size(0)
    first = int(torch.randint(n, (1,), generator=g))
    centroids = [points[first]]
    dmin = (points - points[first]).pow(2).sum(1)
    for _ in range(1, k):
        nxt = int(torch.multinomial(dmin.clamp_min(1e-12).float(), 1, generator=g))
        centroids.append(points[nxt])
        dmin = torch.minimum(dmin, (points - points[nxt]).pow(2).sum(1))
    cent = torch.stack(centroids)
    assign = None
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        new = torch.cdist(points, cent).argmin(1)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        sums = torch.zeros(k, points.size(1), dtype=points.dtype).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=k)
        keep = counts > 0  # an emptied cluster keeps its old centroid
        cent[keep] = sums[keep] / counts[keep].to(points.dtype).view(-1, 1)
    return _capped(-torch.cdist(points, cent).pow(2), k, cap), it


def _fill(assign: Tensor, isolated: Tensor, labels: Tensor | None, k: int) -> Tensor:
    """Deals isolated nodes, grouped by class, to the currently smallest shards."""
    out = assign.clone()
    sizes = torch.bincount(out[out >= 0], minlength=k)
    heap = [(int(sizes[s]), s) for s in range(k)]
    heapq.heapify(heap)
    order = isolated if labels is None else isolated[torch.argsort(labels[isolated], stable=True)]
    for v in order.tolist():  # visits isolated nodes only
        size, s = heapq.heappop(heap)
        out[v] = s
        heapq.heappush(heap, (size + 1, s))
    return out


@register_partitioner("guide")
class GUIDEPartitioner(Partitioner):
    r"""GUIDE's guided partition (see the module docs): GPI on the balanced, label-fair
    spectral relaxation, then k-means (``method="fast"``) or spectral rotation
    (``method="sr"``).

    Args:
        method (str): ``"fast"`` or ``"sr"``. (default: :obj:`"fast"`)
        alpha (float): balance weight :math:`\alpha`. (default: :obj:`1.0`)
        beta (float): label-fairness weight :math:`\beta` (on the whitened labels). The
            default keeps cut-edge ratios well below a random partition's while bringing
            label fairness close to it (Cora, 10 shards: fairness 0.12 and cut 0.32 against
            0.44 / 0.18 for :math:`\beta=0` and 0.05 / 0.90 for random shards; shard models
            trained on label-skewed shards lose about 10 points of accuracy, see
            ``benchmarks/results/guide_opengu.md``). (default: :obj:`16.0`)
        delta (float): capacity slack of the k-means / SR assignment, as in GraphEraser's
            :math:`\lceil n/k + \delta(n-n/k)\rceil`. (default: :obj:`0.01`)
        max_iter (int): GPI iterations. (default: :obj:`100`)
        tol (float): GPI relative tolerance. (default: :obj:`1e-5`)
        kmeans_iter (int): k-means iterations. (default: :obj:`30`)
        sr_iter (int): SR outer iterations. (default: :obj:`20`)
        sr_inner (int): GPI steps per SR iteration. (default: :obj:`5`)
        sr_weight (float): :math:`\lambda`. (default: :obj:`1.0`)
        seed (int): initial :math:`H` and k-means seeding. (default: :obj:`0`)
    """

    depends_on = ("edges", "labels")
    needs_features = True  # reads labels (fairness)

    def __init__(self, method: str = "fast", alpha: float = 1.0, beta: float = 16.0,
                 delta: float = 0.01, max_iter: int = 100, tol: float = 1e-5,
                 kmeans_iter: int = 30, sr_iter: int = 20, sr_inner: int = 5,
                 sr_weight: float = 1.0, seed: int = 0) -> None:
        super().__init__(seed)
        if method not in ("fast", "sr"):
            raise GraphForgetError(f"GUIDE partition method must be 'fast' or 'sr', got {method!r}")
        if float(alpha) < 0 or float(beta) < 0:
            raise GraphForgetError(f"alpha and beta must be >= 0, got {alpha}, {beta}")
        if not 0 <= float(delta) <= 1:
            raise GraphForgetError(f"delta must lie in [0, 1], got {delta}")
        self.method, self.alpha, self.beta, self.delta = method, float(alpha), float(beta), float(delta)
        self.max_iter, self.tol, self.kmeans_iter = int(max_iter), float(tol), int(kmeans_iter)
        self.sr_iter, self.sr_inner, self.sr_weight = int(sr_iter), int(sr_inner), float(sr_weight)

    def _assign(self, view: Data, k: int) -> tuple[Tensor, dict[str, Any]]:
        n = int(view.num_nodes)
        ei = view.edge_index
        if ei is None or ei.numel() == 0:
            ei = torch.empty(2, 0, dtype=torch.long)
        ei, _ = remove_self_loops(ei)
        ei = to_undirected(ei, num_nodes=n)
        labels = getattr(view, "y", None)
        labels = labels if isinstance(labels, Tensor) and labels.dim() == 1 else None
        deg = torch.bincount(ei[0], minlength=n)
        core = (deg > 0).nonzero().view(-1)
        isolated = (deg == 0).nonzero().view(-1)
        g = torch.Generator().manual_seed(int(self.seed))
        info: dict[str, Any] = {"method": self.method, "isolated": int(isolated.numel())}
        assign = torch.full((n,), -1, dtype=torch.long)
        if core.numel() >= k:
            remap = torch.full((n,), -1, dtype=torch.long)
            remap[core] = torch.arange(core.numel())
            sub = remap[ei]
            m = core.numel()
            op = _Operator(sub, m, None if labels is None else labels[core], self.alpha, self.beta)
            h0 = torch.linalg.qr(torch.randn(m, k, generator=g, dtype=torch.float64)).Q
            h, trace = gpi(op, h0, self.max_iter, self.tol)
            info["gpi_objective"] = trace
            info["gpi_iterations"] = len(trace)
            # the k-means capacity only covers the core: isolated nodes fill up afterwards
            cap = capacity(m, k, self.delta)
            rows = torch.nn.functional.normalize(h, dim=1)
            local, kiter = _kmeans(rows, k, cap, g, self.kmeans_iter)
            info["kmeans_iterations"] = kiter
            if self.method == "sr":
                local, h, sr_info = self._rotate(op, h, local, k, cap)
                info.update(sr_info)
            info["orthogonality_error"] = float((h.t() @ h - torch.eye(k, dtype=h.dtype)).abs().max())
            assign[core] = local
        else:
            isolated = torch.arange(n)
        assign = _fill(assign, isolated, labels, k)
        return assign, info

    def _rotate(self, op: _Operator, h: Tensor, assign: Tensor, k: int, cap: int
                ) -> tuple[Tensor, Tensor, dict[str, Any]]:
        trace, moved = [], []
        for _ in range(self.sr_iter):
            f = _scaled_indicator(assign, k)
            r = polar(h.t() @ f)  # argmax_R tr(R^T H^T F): H R ~ F
            new = _capped(h @ r, k, cap)
            changes = int((new != assign).sum())
            moved.append(changes)
            assign = new
            f = _scaled_indicator(assign, k)
            h, inner = gpi(op, h, self.sr_inner, 0.0, linear=self.sr_weight * (f @ r.t()))
            trace.append(inner[-1])
            if changes == 0:  # the discrete indicator is a fixed point
                break
        return assign, h, {"sr_objective": trace, "sr_moves": moved, "sr_iterations": len(moved)}
