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
plus standard Gaussian noise. Generation is vectorised (inverse-CDF sampling with
:func:`torch.searchsorted` on cumulative weights, edges deduplicated as sorted integer
keys :math:`u n + v`; never anything :math:`n \times n`) and runs in chunks, so a
62-million-edge graph takes about a minute and a few GB.
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
#: DC-SBM top-up rounds after dropping repeated pairs (each draws the shortfall again)
_TOP_UP_ROUNDS = 6

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


def undirected_edges(keys: Tensor, num_nodes: int, sorted_unique: bool = False) -> Tensor:
    r"""The coalesced undirected ``edge_index`` of a set of undirected pairs.

    Args:
        keys: ``lo * n + hi`` integer keys (``lo < hi``) of the pairs, duplicates
            allowed; consumed (may be overwritten).
        num_nodes: :math:`n`.
        sorted_unique: ``keys`` are already sorted and distinct (skips a sort).
            (default: :obj:`False`)

    Returns the ``[2, 2k]`` edges of the ``k`` distinct pairs in both directions, sorted
    by row then column (what ``coalesce(to_undirected(...))`` gives), built from one
    sort of integer keys instead of PyG's sort of a ``[2, E]`` tensor plus index copies.
    """
    n = int(num_nodes)
    if not sorted_unique:
        keys = torch.unique(keys)  # sorted
    k = keys.numel()
    both = torch.empty(2 * k, dtype=torch.long)
    both[:k] = keys
    lo = torch.div(keys, n, rounding_mode="floor")
    # the reverse pair hi * n + lo, written straight into the second half
    torch.sub(keys, lo * n, out=both[k:])
    both[k:].mul_(n).add_(lo)
    del keys, lo
    both = both.sort().values
    edge_index = torch.empty(2, 2 * k, dtype=torch.long)
    torch.div(both, n, rounding_mode="floor", out=edge_index[0])
    torch.sub(both, edge_index[0] * n, out=edge_index[1])
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
    r"""Pareto propensities :math:`\theta = (1 - U)^{-1/(\gamma - 1)}`, capped so that
    :math:`\max_i \theta_i / \bar\theta \le` ``expected_max`` (a few fixed-point passes:
    capping lowers the mean, which tightens the cap)."""
    theta = (1 - torch.rand(n, generator=g, dtype=torch.float64)).pow(-1.0 / (exponent - 1.0))
    for _ in range(8):
        cap = expected_max * float(theta.mean())
        if float(theta.max()) <= cap * (1 + 1e-9):
            break
        theta.clamp_(max=cap)
    return theta


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

    Self-loops and repeated pairs (frequent between hubs) are dropped and the shortfall
    is drawn again, a few rounds, so the graph has :math:`m` distinct edges unless its
    blocks cannot hold that many; dropping repeats lowers the realised edge homophily
    slightly, since repeats are likelier inside a class block (0.64 for 0.65 at arxiv size).

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
            :math:`\min(n - 1, 1000\,\bar d)`. (default: :obj:`None`)
        seed: seed. (default: :obj:`0`)
    """
    n, c = int(num_nodes), int(num_classes)
    _check(n, c, num_features, avg_degree, homophily, "DC-SBM")
    if not exponent > 1:
        raise GraphForgetError(f"DC-SBM power-law exponent must be > 1, got {exponent!r}")
    if max_degree is None:
        max_degree = min(n - 1, 1000 * avg_degree)
    if not max_degree >= avg_degree:
        raise GraphForgetError(f"DC-SBM max_degree must be at least avg_degree ({avg_degree}), "
                               f"got {max_degree!r}")
    g = torch.Generator().manual_seed(int(seed))
    y = _balanced_labels(n, c, g)
    theta = _propensities(n, float(exponent), float(max_degree) / float(avg_degree), g)
    # one cumulative table over the nodes sorted by class: a class block is a contiguous
    # range, so sampling "v in class k with prob. ∝ θ_v" is one searchsorted in that range
    order = torch.argsort(y, stable=True)
    cumulative = torch.cumsum(theta[order], 0)
    del theta
    counts = torch.bincount(y, minlength=c)
    ends = torch.cumsum(counts, 0)
    starts = ends - counts
    block_end_mass = cumulative[ends - 1]
    block_start_mass = torch.cat([cumulative.new_zeros(1), block_end_mass[:-1]])
    block_mass = block_end_mass - block_start_mass
    total = float(cumulative[-1])
    m = int(round(n * avg_degree / 2))

    def draw(count: int) -> Tensor:
        keys = []
        for start in range(0, count, _CHUNK):
            size = min(_CHUNK, count - start)
            u = torch.rand(size, generator=g, dtype=torch.float64) * total
            src = order[torch.searchsorted(cumulative, u, right=True).clamp_(max=n - 1)]
            target_class = _target_classes(y[src], c, homophily, g)
            u = block_start_mass[target_class] + torch.rand(size, generator=g, dtype=torch.float64) \
                * block_mass[target_class]
            pos = torch.searchsorted(cumulative, u, right=True)
            # float round-off at a block edge must not leak into the neighbouring class
            pos = torch.minimum(torch.maximum(pos, starts[target_class]), ends[target_class] - 1)
            keys.append(_pair_keys(src, order[pos], n))
            del u, src, target_class, pos
        return torch.cat(keys)

    # repeated hub pairs and self-loops are dropped: top up until m distinct pairs exist
    # (a few rounds), then keep a seeded random m of them
    keys = torch.unique(draw(m))
    for _ in range(_TOP_UP_ROUNDS):
        missing = m - keys.numel()
        if missing <= 0:
            break
        keys = torch.unique(torch.cat([keys, draw(int(missing * 1.25) + 64)]))
    if keys.numel() > m:
        keep = torch.randperm(keys.numel(), generator=g)[:m].sort().values
        keys = keys[keep]
        del keep
    del cumulative
    edge_index = undirected_edges(keys, n, sorted_unique=True)
    del keys
    x = _features(y, c, num_features, signal, g)
    data = Data(x=x, edge_index=edge_index, y=y, num_nodes=n)
    data.num_classes = c
    return data


#: generators selectable with ``model=`` in a ``synthetic:`` spec
SYNTHETIC_MODELS = {"csbm": csbm, "dcsbm": dcsbm}
