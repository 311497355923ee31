r"""Seeded synthetic graphs: the contextual SBM (CSBM) and a degree-corrected SBM (DC-SBM)
with a power-law degree sequence.

**CSBM** (:func:`csbm`): nodes get balanced random labels; each of the
:math:`m = n\bar{d}/2` undirected edges joins a uniformly drawn source to a node of the
same class with probability ``homophily`` and to a node of another class otherwise.
Degrees are nearly Poisson.

**DC-SBM** (:func:`dcsbm`): the same blocks, but every node carries a propensity
:math:`\theta_i` drawn from a Pareto law :math:`p(\theta) \propto \theta^{-\gamma}`
(:math:`\theta \ge 1`, ``exponent`` :math:`\gamma`), and both endpoints of an edge are
drawn proportionally to :math:`\theta` (the target within the chosen class block), so
node :math:`i` has expected degree :math:`2m\,\theta_i / \sum_j \theta_j` and the degree
distribution has a power-law tail :math:`P(k) \propto k^{-\gamma}`, as in citation and
co-purchase graphs. Propensities are capped so that no expected degree exceeds
``max_degree``.

In both, features are the class mean (a random Gaussian direction scaled by ``signal``)
plus standard Gaussian noise. Generation is vectorised (DC-SBM endpoints from alias
tables over (class, propensity-level) groups plus rejection, edges deduplicated as
sorted integer keys :math:`u n + v`; never anything :math:`n \times n`) and runs in
chunks: the ogbn-products-size graph (62 million edges) takes under a minute on one
thread and about 4 GB (``benchmarks/results/synthetic_generation.md``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphforget.errors import GraphForgetError

__all__ = ["csbm", "dcsbm", "parse_synthetic", "synthetic_graph", "undirected_edges", "SYNTHETIC_MODELS"]

#: edges drawn per chunk: bounds the temporary memory of generation
_CHUNK = 1 << 22
#: attempts per rejected draw and round in the DC-SBM node sampler
_RETRIES = 2
#: propensity groups per doubling of theta in the sampler: acceptance >= 2^(-1/4)
_LEVELS_PER_OCTAVE = 4
#: most DC-SBM top-up rounds after dropping repeated pairs (each draws the shortfall
#: again; a large graph needs two or three, a dense small one more)
_TOP_UP_ROUNDS = 32

_KEYS = {"nodes": "num_nodes", "classes": "num_classes", "features": "num_features",
         "avgdegree": "avg_degree", "degree": "avg_degree", "homophily": "homophily",
         "signal": "signal", "seed": "seed", "model": "model",
         "exponent": "exponent", "powerlaw": "exponent", "maxdegree": "max_degree"}
_FLOATS = ("avg_degree", "homophily", "signal", "exponent", "max_degree")
#: parameters only the degree-corrected model has: giving one selects ``model=dcsbm``
_DCSBM_ONLY = ("exponent", "max_degree")


def parse_synthetic(spec: str) -> dict[str, Any]:
    """Parses ``"nodes=2000,avg-degree=8,classes=4"`` into :func:`synthetic_graph` arguments.

    Keys (case-, dash- and underscore-insensitive): ``nodes``, ``classes``, ``features``,
    ``avg-degree`` (or ``degree``), ``homophily``, ``signal``, ``seed``, ``model``
    (``csbm`` or ``dcsbm``), ``exponent`` (or ``power-law``) and ``max-degree``.
    """
    out: dict[str, Any] = {}
    if not spec:
        return out
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise GraphForgetError(f"synthetic parameter {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        norm = key.strip().lower().replace("-", "").replace("_", "")
        if norm not in _KEYS:
            raise GraphForgetError(f"unknown synthetic parameter {key!r}; known: {sorted(set(_KEYS))}")
        arg = _KEYS[norm]
        if arg == "model":
            model = value.strip().lower().replace("-", "")
            if model not in SYNTHETIC_MODELS:
                raise GraphForgetError(f"unknown synthetic model {value!r}; choose one of: "
                                       f"{', '.join(SYNTHETIC_MODELS)}")
            out[arg] = model
            continue
        try:
            out[arg] = float(value) if arg in _FLOATS else int(value)
        except ValueError:
            raise GraphForgetError(f"synthetic parameter {key!r} must be a number, got {value!r}") from None
    return out


def synthetic_graph(model: str | None = None, **params: Any) -> Data:
    """:func:`csbm` or :func:`dcsbm` from :func:`parse_synthetic` arguments.

    ``model=None`` picks ``dcsbm`` when a degree-corrected parameter (``exponent``,
    ``max_degree``) is given and ``csbm`` otherwise, so ``nodes=...,avg-degree=...``
    specs keep generating the same CSBM graphs as before DC-SBM existed.
    """
    if model is None:
        model = "dcsbm" if any(k in params for k in _DCSBM_ONLY) else "csbm"
    if model not in SYNTHETIC_MODELS:
        raise GraphForgetError(f"unknown synthetic model {model!r}; choose one of: {', '.join(SYNTHETIC_MODELS)}")
    if model == "csbm" and any(k in params for k in _DCSBM_ONLY):
        bad = sorted(k for k in params if k in _DCSBM_ONLY)
        raise GraphForgetError(f"synthetic parameters {bad} need model=dcsbm, not model=csbm")
    return SYNTHETIC_MODELS[model](**params)


def _check(n: int, c: int, num_features: int, avg_degree: float, homophily: float, kind: str) -> None:
    if n < 2 or c < 1 or num_features < 1 or avg_degree <= 0 or not 0 <= homophily <= 1:
        raise GraphForgetError(
            f"invalid {kind} parameters: nodes={n}, classes={c}, features={num_features}, "
            f"avg_degree={avg_degree}, homophily={homophily}")


def _balanced_labels(n: int, c: int, g: torch.Generator) -> Tensor:
    y = torch.arange(n) % c
    return y[torch.randperm(n, generator=g)]


def _target_classes(source_class: Tensor, c: int, homophily: float, g: torch.Generator) -> Tensor:
    """The class of each edge's target: the source's w.p. ``homophily``, else another uniformly."""
    m = source_class.numel()
    same = torch.rand(m, generator=g) < homophily
    if c == 1:
        return source_class
    shift = torch.randint(1, c, (m,), generator=g)
    return torch.where(same, source_class, (source_class + shift) % c)


def _features(y: Tensor, c: int, num_features: int, signal: float, g: torch.Generator) -> Tensor:
    """Class means (random directions of norm ``signal * sqrt(F) / 4``) plus unit noise."""
    n = y.numel()
    means = torch.randn(c, num_features, generator=g)
    means = means / means.norm(dim=1, keepdim=True) * signal * num_features ** 0.5 / 4
    x = torch.randn(n, num_features, generator=g)
    for start in range(0, n, _CHUNK):  # in place, in chunks: no second n x F buffer
        x[start:start + _CHUNK] += means[y[start:start + _CHUNK]]
    return x


def _sort_(keys: Tensor) -> Tensor:
    """Sorts a 1-D int64 tensor in place (numpy's vectorised sort: ~10x torch's on one
    thread for tens of millions of keys); returns it."""
    keys.numpy().sort()
    return keys


def _sorted_unique(keys: Tensor) -> Tensor:
    """Distinct values of ``keys``, sorted (``keys`` is sorted in place)."""
    keys = _sort_(keys.contiguous())
    if keys.numel() < 2:
        return keys
    first = torch.ones(keys.numel(), dtype=torch.bool)
    torch.ne(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def undirected_edges(keys: Tensor, num_nodes: int, sorted_unique: bool = False) -> Tensor:
    r"""The coalesced undirected ``edge_index`` of a set of undirected pairs.

    Args:
        keys: ``lo * n + hi`` integer keys (``lo < hi``) of the pairs, duplicates
            allowed; may be reordered in place.
        num_nodes: :math:`n`.
        sorted_unique: ``keys`` are already sorted and distinct (skips a sort).
            (default: :obj:`False`)

    Returns the ``[2, 2k]`` edges of the ``k`` distinct pairs in both directions, sorted
    by row then column (what ``coalesce(to_undirected(...))`` gives), built from sorts of
    integer keys instead of PyG's sort of a ``[2, E]`` tensor plus index copies.
    """
    n = int(num_nodes)
    if not sorted_unique:
        keys = _sorted_unique(keys)
    k = keys.numel()
    both = torch.empty(2 * k, dtype=torch.long)
    both[:k] = keys
    lo = torch.div(keys, n, rounding_mode="floor")
    # the reverse pair hi * n + lo, written straight into the second half
    torch.sub(keys, lo * n, out=both[k:])
    both[k:].mul_(n).add_(lo)
    del keys, lo
    _sort_(both)
    edge_index = torch.empty(2, 2 * k, dtype=torch.long)
    torch.div(both, n, rounding_mode="floor", out=edge_index[0])
    torch.remainder(both, n, out=edge_index[1])
    return edge_index


def _pair_keys(src: Tensor, dst: Tensor, n: int) -> Tensor:
    """Keys ``min * n + max`` of the pairs, self-loops dropped."""
    lo, hi = torch.minimum(src, dst), torch.maximum(src, dst)
    keep = lo != hi
    return lo[keep] * n + hi[keep]


def csbm(num_nodes: int = 1000, num_classes: int = 4, num_features: int = 32,
         avg_degree: float = 8.0, homophily: float = 0.8, signal: float = 1.0,
         seed: int = 0) -> Data:
    """Generates a contextual SBM graph (undirected, no self-loops, no masks).

    Args:
        num_nodes: nodes. (default: :obj:`1000`)
        num_classes: classes. (default: :obj:`4`)
        num_features: feature dimension. (default: :obj:`32`)
        avg_degree: expected average degree. (default: :obj:`8.0`)
        homophily: probability that an edge stays within a class. (default: :obj:`0.8`)
        signal: norm of each class mean relative to unit noise per dimension. (default: :obj:`1.0`)
        seed: seed. (default: :obj:`0`)
    """
    n, c = int(num_nodes), int(num_classes)
    _check(n, c, num_features, avg_degree, homophily, "CSBM")
    g = torch.Generator().manual_seed(int(seed))
    y = _balanced_labels(n, c, g)
    m = int(round(n * avg_degree / 2))
    src = torch.randint(n, (m,), generator=g)
    target_class = _target_classes(y[src], c, homophily, g)
    order = torch.argsort(y, stable=True)
    counts = torch.bincount(y, minlength=c)
    offsets = torch.cumsum(counts, 0) - counts
    pick = (torch.rand(m, generator=g) * counts[target_class]).long()
    dst = order[offsets[target_class] + pick]
    edge_index = undirected_edges(_pair_keys(src, dst, n), n)
    del src, dst, target_class, pick
    x = _features(y, c, num_features, signal, g)
    data = Data(x=x, edge_index=edge_index, y=y, num_nodes=n)
    data.num_classes = c
    return data


def _propensities(n: int, exponent: float, expected_max: float, g: torch.Generator) -> Tensor:
    r"""Pareto propensities :math:`\theta = (1 - U)^{-1/(\gamma - 1)} \ge 1`, capped so that
    :math:`\max_i \theta_i / \bar\theta \le` ``expected_max`` (a few fixed-point passes:
    capping lowers the mean, which tightens the cap)."""
    theta = (1 - torch.rand(n, generator=g, dtype=torch.float64)).pow(-1.0 / (exponent - 1.0))
    for _ in range(8):
        cap = max(1.0, expected_max * float(theta.mean()))
        if float(theta.max()) <= cap * (1 + 1e-9):
            break
        theta.clamp_(max=cap)
    return theta


def _alias_rows(weights: Tensor) -> tuple[Tensor, Tensor]:
    """Walker/Vose alias tables, one per row of ``weights`` ``[rows, k]`` (each row a
    distribution over its ``k`` columns; an all-zero row becomes uniform).

    Returns ``(prob, alias)``: draw a column ``j`` uniformly, keep it with probability
    ``prob[r, j]``, else take ``alias[r, j]``. Built in Python: meant for small tables.
    """
    rows, k = weights.shape
    prob = torch.ones(rows, k, dtype=torch.float64)
    alias = torch.arange(k).repeat(rows, 1)
    for r in range(rows):
        w = weights[r].double()
        total = float(w.sum())
        if total <= 0:
            continue
        scaled = (w * (k / total)).tolist()
        small = [j for j, v in enumerate(scaled) if v < 1.0]
        large = [j for j, v in enumerate(scaled) if v >= 1.0]
        p_row, a_row = [1.0] * k, list(range(k))
        while small and large:
            j, big = small.pop(), large[-1]
            p_row[j], a_row[j] = scaled[j], big
            scaled[big] -= 1.0 - scaled[j]
            if scaled[big] < 1.0:
                small.append(large.pop())
        prob[r], alias[r] = torch.tensor(p_row, dtype=torch.float64), torch.tensor(a_row)
    return prob, alias


class _WeightedNodeSampler:
    r"""Draws nodes with probability :math:`\propto \theta`, within a class or anywhere, in
    :math:`O(1)` expected time per draw.

    Nodes are grouped by class and quarter-octave of :math:`\theta`
    (:math:`\lfloor 4 \log_2 \theta \rfloor`). A draw proposes a class (unless given) and
    a group of that class by their envelope mass :math:`|\text{group}| \cdot
    \max_{\text{group}} \theta` (alias tables), a node of the group uniformly, and accepts
    it with probability :math:`\theta_v / \max_{\text{group}} \theta \ge 2^{-1/4}`;
    rejected draws are redrawn from scratch. Exact; every lookup but the last two touches
    tables of ``classes x levels`` entries that stay in cache, which is several times
    faster than a binary search over all :math:`n` cumulative weights at millions of nodes.
    """

    def __init__(self, theta: Tensor, y: Tensor, num_classes: int) -> None:
        c = int(num_classes)
        # float32 propensities and int32 node ids halve the two large random-access
        # tables (the acceptance test needs no more than float32's 1e-7 precision)
        self.theta = theta.float()
        level = torch.log2(theta).mul_(_LEVELS_PER_OCTAVE).floor_().long().clamp_(min=0)
        self.levels = L = int(level.max()) + 1
        group = y * L + level
        del level
        self.order = torch.argsort(group, stable=True).to(torch.int32 if theta.numel() < 2**31 else torch.long)
        self.count = torch.bincount(group, minlength=c * L)
        self.start = torch.cumsum(self.count, 0) - self.count
        self.bound = torch.zeros(c * L, dtype=torch.float32).scatter_reduce_(0, group, self.theta, "amax")
        # groups are proposed by their envelope mass size * bound: a proposal from group k
        # is then accepted with probability theta_v / bound_k, so P(v) ∝ theta_v exactly
        envelope = (self.count * self.bound).view(c, L)
        prob, alias = _alias_rows(envelope)
        self.group_prob = prob.view(-1).float()
        self.group_alias = (alias + torch.arange(c).unsqueeze(1) * L).view(-1)
        prob, alias = _alias_rows(envelope.sum(1, keepdim=True).t())
        self.class_prob, self.class_alias = prob.view(-1).float(), alias.view(-1)
        self.num_classes = c

    def _attempt(self, target_class: Tensor | None, count: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        """One round: candidate nodes and whether each was accepted.

        Each float64 uniform serves twice: its integer part picks a column (or a node)
        and its fractional part, an independent uniform, decides the alias (or the
        acceptance).
        """
        c, L = self.num_classes, self.levels
        take = torch.index_select  # ~2x faster than advanced indexing for 1-D gathers
        if target_class is None:
            u = torch.rand(count, generator=g, dtype=torch.float64).mul_(c)
            col = u.long().clamp_(max=c - 1)
            keep = u.sub_(col).float() < take(self.class_prob, 0, col)
            target_class = torch.where(keep, col, take(self.class_alias, 0, col))
        u = torch.rand(count, generator=g, dtype=torch.float64).mul_(L)
        col = u.long().clamp_(max=L - 1)
        frac = u.sub_(col).float()
        col += target_class * L  # the class's row of the group table
        keep = frac < take(self.group_prob, 0, col)
        group = torch.where(keep, col, take(self.group_alias, 0, col))
        size = take(self.count, 0, group)
        u = torch.rand(count, generator=g, dtype=torch.float64).mul_(size)
        pick = torch.minimum(u.long(), size - 1).clamp_(min=0)
        node = take(self.order, 0, pick.add(take(self.start, 0, group)))
        accept = u.sub_(pick).float().mul_(take(self.bound, 0, group)) < take(self.theta, 0, node)
        accept &= size > 0
        return node.long(), accept

    def draw(self, count: int, target_class: Tensor | None, g: torch.Generator) -> Tensor:
        """``count`` nodes; the ``i``-th from class ``target_class[i]`` (anywhere if None).

        Rejected slots get ``_RETRIES`` fresh attempts at once and keep the first accepted
        one (still exact: the first success of i.i.d. trials), so a draw takes two or
        three vectorised rounds instead of a long tail of tiny ones.
        """
        out, accept = self._attempt(target_class, count, g)
        redo = (~accept).nonzero().view(-1)
        while redo.numel():
            k = redo.numel()
            tc = None if target_class is None else target_class[redo].repeat(_RETRIES)
            node, accept = self._attempt(tc, k * _RETRIES, g)
            accept, node = accept.view(_RETRIES, k), node.view(_RETRIES, k)
            first = accept.to(torch.uint8).argmax(0)  # the first accepted attempt (0 if none)
            done = accept.any(0)
            out[redo[done]] = node[first, torch.arange(k)][done]
            redo = redo[~done]
        return out


def dcsbm(num_nodes: int = 1000, num_classes: int = 4, num_features: int = 32,
          avg_degree: float = 8.0, homophily: float = 0.8, signal: float = 1.0,
          exponent: float = 2.5, max_degree: float | None = None, seed: int = 0) -> Data:
    r"""Generates a degree-corrected SBM graph with a power-law degree sequence
    (undirected, no self-loops, no duplicate edges, no masks).

    Node :math:`i` draws :math:`\theta_i \sim \mathrm{Pareto}(\gamma)`; each of the
    :math:`m = n\bar{d}/2` edges draws its source with probability
    :math:`\theta_u / \sum_j \theta_j`, its target class (the source's with probability
    ``homophily``, otherwise one of the other classes uniformly) and its target
    :math:`v` within that class with probability :math:`\theta_v / \sum_{j \in c} \theta_j`:

    .. math::
        \mathbb{E}[\deg i] \approx \bar{d}\,\frac{\theta_i}{\bar\theta}, \qquad
        P(\deg = k) \propto k^{-\gamma} \text{ for large } k.

    Self-loops and repeated pairs (frequent between hubs) are dropped, and same-class
    and cross-class edges are each drawn until :math:`\mathrm{round}(hm)` and
    :math:`m - \mathrm{round}(hm)` distinct pairs exist (a few top-up rounds), so the
    graph has exactly :math:`m` edges and edge homophily :math:`h` unless the blocks
    cannot hold that many pairs (tiny classes, huge degrees).

    Args:
        num_nodes: nodes. (default: :obj:`1000`)
        num_classes: classes (balanced). (default: :obj:`4`)
        num_features: feature dimension. (default: :obj:`32`)
        avg_degree: expected average degree :math:`\bar d`. (default: :obj:`8.0`)
        homophily: probability that an edge stays within a class. (default: :obj:`0.8`)
        signal: norm of each class mean relative to unit noise per dimension. (default: :obj:`1.0`)
        exponent: power-law exponent :math:`\gamma > 1` of the degree distribution.
            (default: :obj:`2.5`)
        max_degree: cap on any node's expected degree; :obj:`None` is
            :math:`\min(n - 1, 1000\,\bar d)` (at least :math:`\bar d`). (default: :obj:`None`)
        seed: seed. (default: :obj:`0`)
    """
    n, c = int(num_nodes), int(num_classes)
    _check(n, c, num_features, avg_degree, homophily, "DC-SBM")
    if n < c:
        raise GraphForgetError(f"DC-SBM needs at least one node per class: nodes={n} < classes={c}")
    if not exponent > 1:
        raise GraphForgetError(f"DC-SBM power-law exponent must be > 1, got {exponent!r}")
    if max_degree is None:
        max_degree = max(float(avg_degree), min(n - 1, 1000 * avg_degree))
    if not max_degree >= avg_degree:
        raise GraphForgetError(f"DC-SBM max_degree must be at least avg_degree ({avg_degree}), "
                               f"got {max_degree!r}")
    g = torch.Generator().manual_seed(int(seed))
    y = _balanced_labels(n, c, g)
    sampler = _WeightedNodeSampler(
        _propensities(n, float(exponent), float(max_degree) / float(avg_degree), g), y, c)
    m = int(round(n * avg_degree / 2))
    m_same = m if c == 1 else int(round(homophily * m))

    def draw(count: int, same: bool) -> Tensor:
        """Keys of ``count`` independent same-class (or cross-class) edge draws."""
        keys = []
        for start in range(0, count, _CHUNK):
            size = min(_CHUNK, count - start)
            src = sampler.draw(size, None, g)
            target_class = y[src] if same else (y[src] + torch.randint(1, c, (size,), generator=g)) % c
            keys.append(_pair_keys(src, sampler.draw(size, target_class, g), n))
        return torch.cat(keys) if keys else torch.empty(0, dtype=torch.long)

    def distinct(count: int, same: bool) -> Tensor:
        """``count`` distinct pairs: one batch, then the shortfall (plus a margin) in
        rounds, keeping the new pairs in draw order, until ``count`` exist."""
        keys = _sorted_unique(draw(count, same))
        for _ in range(_TOP_UP_ROUNDS):
            missing = count - keys.numel()
            if missing <= 0:
                break
            fresh = draw(int(missing * 1.25) + 64, same)
            fresh = fresh[~_sorted_contains(keys, fresh)]
            fresh = _first_occurrences(fresh)[:missing]
            if fresh.numel() == 0:  # the blocks hold no more distinct pairs
                break
            keys = _sort_(torch.cat([keys, fresh]))
        return keys

    # same-class and cross-class pairs are disjoint sets, each drawn to its exact count:
    # the edge homophily is then exactly m_same / m (repeats, likelier inside a block,
    # would otherwise lower it)
    keys = distinct(m_same, True)
    if m > m_same:
        keys = _sort_(torch.cat([keys, distinct(m - m_same, False)]))
    edge_index = undirected_edges(keys, n, sorted_unique=True)
    del keys
    x = _features(y, c, num_features, signal, g)
    data = Data(x=x, edge_index=edge_index, y=y, num_nodes=n)
    data.num_classes = c
    return data


def _sorted_contains(sorted_keys: Tensor, keys: Tensor) -> Tensor:
    if sorted_keys.numel() == 0 or keys.numel() == 0:
        return torch.zeros(keys.numel(), dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, keys).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == keys


def _first_occurrences(keys: Tensor) -> Tensor:
    """The distinct values of ``keys`` in the order they first appear."""
    if keys.numel() < 2:
        return keys
    order = torch.argsort(keys, stable=True)
    ranked = keys[order]
    first = torch.ones(keys.numel(), dtype=torch.bool)
    torch.ne(ranked[1:], ranked[:-1], out=first[1:])
    return keys[order[first].sort().values]


#: generators selectable with ``model=`` in a ``synthetic:`` spec
SYNTHETIC_MODELS = {"csbm": csbm, "dcsbm": dcsbm}
