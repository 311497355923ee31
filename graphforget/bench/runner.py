"""The benchmark runner: one record per (method, seed) cell.

For each cell: train the original model, sample the request with the cell's seed,
time ``unlearn``, time the method's exact reference (``Retrain`` of the same backbone,
or the method's own :meth:`~graphforget.Unlearner.reference`) fitted on the retained
data, and record the fields below (stable names: other tools read them).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from graphforget._registry import make_method
from graphforget.bench.tasks import resolve_task
from graphforget.errors import GraphForgetError, UnsupportedRequestError
from graphforget.executor import Executor, SerialExecutor, make_executor
from graphforget.metrics import fidelity_ratio, js_divergence, measure, output_kl, parameter_distance

__all__ = ["CellSpec", "RECORD_FIELDS", "FIDELITY_FIELDS", "output_distances", "default_model_for", "run_cell",
           "run_bench", "summarize", "to_markdown", "shard_executor", "cell_executor", "reference_for"]

RECORD_FIELDS = (
    "method", "dataset", "model", "request", "ratio", "seed", "utility_metric",
    "utility_original", "utility_unlearned", "utility_retrain", "unlearn_seconds",
    "retrain_seconds", "speedup", "distance_to_retrain", "distance_original_to_retrain",
    "distance_kind",
)

#: output-space fidelity fields (every task; ``None`` with ``output_distance_note`` where the
#: task has no predictive distribution). Distances are mean Jensen–Shannon divergences in bits.
FIDELITY_FIELDS = (
    "output_distance_to_retrain", "output_distance_original_to_retrain",
    "output_distance_forget_to_retrain", "output_distance_forget_original_to_retrain",
    "output_distance_retrain_to_retrain", "output_distance_forget_retrain_to_retrain",
    "fidelity_ratio", "output_distance_unit",
)

#: a safeguard that shrank an update step below this factor is reported as a warning.
STEP_SCALE_WARNING = 1 / 8


@dataclass
class CellSpec:
    """A picklable description of one benchmark cell."""

    method: str
    dataset: str
    model: str
    request: str
    ratio: float
    seed: int
    task: str = "node"
    root: str | None = None
    split: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    profile: bool = False
    #: membership-inference attack to run (``loss``, ``posterior`` or ``shadow``): adds
    #: ``mia_auc``, ``mia_auc_retrain`` and ``mia`` (the attack's full result) to the record.
    mia: str | None = None
    #: poison to inject and then forget (``edge``: heterophilic edges, ``label``: flipped
    #: labels): the request served is exactly the poison; adds ``poison_recovered``.
    poison: str | None = None
    poison_ratio: float = 0.1
    #: reuse the fitted reference of an earlier cell with the same reference model, data,
    #: seed and request (within one process): methods of one table then share one retrain
    #: and its timing, as they would in a single run. Used by ``graphforget demo``.
    share_reference: bool = False
    #: the pool a link-prediction edge request is drawn from (``all``, ``in``: edges inside
    #: the 2-hop enclosing subgraph of the test edges, ``out``: the others; GNNDelete's
    #: settings); ``None`` is the task's default (``all``). Recorded as the ``pool`` field.
    pool: str | None = None
    #: also fit a second reference with another seed (``derive_seed(seed, "noise-floor")``)
    #: and record ``output_distance_retrain_to_retrain``, the retrain-to-retrain noise floor
    #: (costs one more retrain; ``graphforget bench --noise-floor``).
    noise_floor: bool = False


_REFERENCE_CACHE: dict[tuple, tuple[Any, Any]] = {}


def _reference_key(reference: Any, spec: CellSpec, request: Any) -> tuple:
    params = json.dumps(reference.get_params(), sort_keys=True, default=str)
    return (type(reference).__qualname__, params, spec.task, spec.dataset, spec.root, spec.split,
            spec.seed, spec.poison, spec.poison_ratio, request.content_hash())


def method_class(spec: CellSpec) -> type:
    """The class a cell runs: the registered method, or the task's own retrain class
    when ``retrain`` is asked for a task other than node classification."""
    from graphforget.exact.retrain import Retrain

    task = resolve_task(spec.task)
    cls = task.resolve_method(spec.method)  # the registered class, or the task's variant
    if cls is Retrain and task.task not in cls.tasks and task.retrain_class is not None:
        return task.retrain_class
    return cls


def default_model_for(cls: type, task: Any) -> str:
    """The backbone a method runs on a task when none is asked for: the task's default
    where the method accepts it (``gcn`` for nodes, ``logreg`` for tabular rows), else the
    method's first supported model (``cgu`` → ``sgc``), else, for a GNN-backbone method on
    edge-less tabular rows, ``mlp`` (``sisa`` on Adult: a GNN on rows without edges is an
    MLP anyway)."""
    from graphforget.models import model_names
    from graphforget.unlearner import Task

    wanted = task.default_model
    if "model" not in cls.param_names():
        return wanted
    if cls.supported_models is not None:
        return wanted if wanted in cls.supported_models else cls.supported_models[0]
    if wanted in model_names() or task.task not in (Task.NODE, Task.TABULAR):
        return wanted
    return "mlp"


def validate_spec(spec: CellSpec) -> None:
    """Fails fast, before any training, on names and values that cannot work."""
    task = resolve_task(spec.task)
    cls = method_class(spec)
    if task.task not in cls.tasks:
        raise UnsupportedRequestError(
            f"method {spec.method!r} does not serve the {task.name!r} task "
            f"(it serves: {', '.join(t.value for t in cls.tasks)})")
    if spec.request not in task.request_kinds:
        raise GraphForgetError(f"unknown request {spec.request!r} for task {task.name!r}; "
                               f"choose one of: {', '.join(task.request_kinds)}")
    if not (isinstance(spec.ratio, (int, float)) and 0 < spec.ratio < 1):
        raise GraphForgetError(f"ratio must lie in (0, 1), got {spec.ratio!r}")
    _validate_trust(spec, task)
    if spec.pool is not None:
        if not hasattr(task, "edge_pool") or spec.request != "edge":
            raise GraphForgetError(f"--pool applies to edge requests of the link task, not to "
                                   f"{spec.request!r} requests of the {task.name!r} task")
        if spec.pool not in ("all", "in", "out"):
            raise GraphForgetError(f"pool must be 'all', 'in' or 'out', got {spec.pool!r}")
    if cls.supported_models is not None and spec.model not in cls.supported_models:
        raise GraphForgetError(f"method {spec.method!r} works with models "
                               f"{', '.join(cls.supported_models)}, not {spec.model!r}")
    from graphforget.models import model_names
    from graphforget.unlearner import Task

    if "model" in cls.param_names() and cls.supported_models is None \
            and spec.model not in model_names() and task.task in (Task.NODE, Task.TABULAR):
        raise GraphForgetError(f"unknown model {spec.model!r}; choose one of: {', '.join(model_names())}")


def _validate_trust(spec: CellSpec, task: Any) -> None:
    from graphforget.metrics.poison import POISONS
    from graphforget.metrics.privacy import ATTACKS

    if spec.mia is not None and spec.mia not in ATTACKS:
        raise GraphForgetError(f"unknown attack {spec.mia!r}; choose one of: {', '.join(ATTACKS)}")
    if spec.poison is not None and spec.poison not in POISONS:
        raise GraphForgetError(f"unknown poison {spec.poison!r}; choose one of: {', '.join(POISONS)}")
    if (spec.mia or spec.poison) and task.name != "node":
        raise GraphForgetError(f"--mia and --poison need the node task, not {task.name!r}")
    if spec.mia and not spec.poison and spec.request not in ("node", "sample"):
        raise GraphForgetError(f"--mia measures membership of forgotten nodes: use --request node, "
                               f"not {spec.request!r}")
    if spec.mia and spec.poison == "edge":
        raise GraphForgetError("--mia needs forgotten nodes; the edge poison forgets edges (use --poison label)")
    if not (isinstance(spec.poison_ratio, (int, float)) and 0 < spec.poison_ratio <= 1):
        raise GraphForgetError(f"poison ratio must lie in (0, 1], got {spec.poison_ratio!r}")


# -- where shards train ---------------------------------------------------------------------
#: the executor sharded methods (those with an ``executor`` parameter) train their shards
#: with, unless a cell's params set one: the innermost :func:`shard_executor` block
_SHARD_EXECUTORS: list[Executor] = []


@contextlib.contextmanager
def shard_executor(executor: Executor) -> Any:
    """Within this block, cells built in this process hand ``executor`` to every method
    that takes an ``executor`` parameter (GraphEraser, SISA, GUIDE, RecEraser), for the
    unlearner and for its exact reference; a cell whose params name an executor keeps it.
    Not part of a cell's spec, so cache keys do not change (all executors give identical
    models)."""
    _SHARD_EXECUTORS.append(executor)
    try:
        yield executor
    finally:
        _SHARD_EXECUTORS.pop()


def _shard_executor_for(unlearner: Any, spec: CellSpec) -> Executor | None:
    if not _SHARD_EXECUTORS or "executor" in spec.params or "executor" not in unlearner.param_names():
        return None
    return _SHARD_EXECUTORS[-1]


def reference_for(unlearner: Any, spec: CellSpec) -> Any:
    """``unlearner.reference()``, training its shards where the unlearner does inside a
    :func:`shard_executor` block (its models are identical either way; its time is then
    comparable with the unlearner's)."""
    reference = unlearner.reference()
    shard_ex = _shard_executor_for(reference, spec)
    if shard_ex is not None:
        reference.set_params(executor=shard_ex)
    return reference


def cell_executor(executor: str | Executor, executor_kwargs: dict[str, Any] | None = None
                  ) -> tuple[Executor, Executor, Any]:
    """``(owned, cells, context)`` for running benchmark cells "on" ``executor``: ``owned``
    is the executor to close at the end, ``cells`` the one the cells run through and
    ``context`` a context manager to run them in.

    ``serial``/``process``: cells run through that executor, each method trains its
    shards as its params say. ``ray``: cells run one after another in this process (the
    data is loaded here, from this machine's disk) and sharded methods train their shards
    as Ray tasks, the graph and weights travelling through Ray's object store; Ray is
    connected before any cell starts, so a bad address fails at once."""
    if isinstance(executor, Executor) and executor_kwargs:
        raise GraphForgetError("executor_kwargs apply to an executor given by name, not to an "
                               f"{type(executor).__name__} object")
    ex = make_executor(executor, **(executor_kwargs or {}))
    if ex.name != "ray":
        return ex, ex, contextlib.nullcontext()
    connect = getattr(ex, "connect", None)
    if callable(connect):
        connect()
    # methods get a non-owning copy: their close() (RecEraser closes after each training
    # round) must not shut down the Ray this run started
    return ex, SerialExecutor(), shard_executor(copy.copy(ex))


def _build(spec: CellSpec) -> Any:
    cls = method_class(spec)
    names = set(cls.param_names())
    params = {k: v for k, v in (("model", spec.model), ("seed", spec.seed)) if k in names}
    if _SHARD_EXECUTORS and "executor" in names and "executor" not in spec.params:
        params["executor"] = _SHARD_EXECUTORS[-1]
    params.update(spec.params)
    return make_method(cls, **params)


def _distances(unlearner: Any, reference: Any, original_params: Any, original_logits: Any,
               task: Any) -> dict[str, Any]:
    """``distance_to_retrain`` (unlearned vs retrained) and ``distance_original_to_retrain``
    in one unit, named by ``distance_kind``: ``parameter_l2`` when the three models share
    one parameter layout, else ``output_kl`` (KL from the retrained model's outputs on the
    task's evaluation nodes/items), e.g. for GNNDelete, whose deletion operators add
    parameters."""
    vu, vr = unlearner.parameter_vector(), reference.parameter_vector()
    if vu is not None and vr is not None and original_params is not None \
            and vu.shape == vr.shape == original_params.shape:
        return {"distance_kind": "parameter_l2", "distance_to_retrain": parameter_distance(vu, vr),
                "distance_original_to_retrain": parameter_distance(original_params, vr)}
    mask = task.distance_mask(reference)
    ref_logits = reference.predict_logits()
    return {"distance_kind": "output_kl",
            "distance_to_retrain": output_kl(ref_logits, unlearner.predict_logits(), mask),
            "distance_original_to_retrain": output_kl(ref_logits, original_logits, mask)}


def _snapshot(unlearner: Any) -> Any:
    """A frozen copy of the fitted original, queried later on the retained data (``None``
    when the method cannot be copied: the original-side distances are then ``None``)."""
    import copy

    try:
        return copy.deepcopy(unlearner)
    except Exception:  # noqa: BLE001 - e.g. a method holding remote handles
        return None


def _second_reference(reference: Any, seed: int) -> Any:
    """The reference refitted with another seed (the noise floor), or ``None`` when the
    reference takes no seed."""
    from graphforget.executor import derive_seed

    if "seed" not in reference.param_names():
        return None
    return reference.clone(seed=derive_seed(seed, "noise-floor"))


def output_distances(task: Any, unlearner: Any, reference: Any, original: Any, retained: Any,
                     request: Any, second: Any = None) -> dict[str, Any]:
    r"""The output-space fidelity fields of a record.

    Every distance is the mean, over the task's units (:attr:`BenchTask.fidelity_unit`),
    of the Jensen–Shannon divergence **in bits** (:func:`~graphforget.metrics.js_divergence`,
    in :math:`[0, 1]`) between two models' predictive distributions, all three models
    queried on the retained data:

    * ``output_distance_to_retrain``: unlearned vs retrained;
    * ``output_distance_original_to_retrain``: the original (before unlearning) vs retrained,
      i.e. what a method that changes nothing would score;
    * ``output_distance_forget_*``: the same restricted to the forgotten items (for edge
      requests, their endpoints; link prediction: the forgotten edges);
    * ``output_distance_retrain_to_retrain``: retrained vs ``second``, a retrain with
      another seed: the noise floor (``None`` unless ``second`` is given);
    * ``fidelity_ratio``: unlearned-to-retrain over original-to-retrain (0: at the retrained
      model, 1: no movement, above 1: moved away).
    """
    out: dict[str, Any] = {k: None for k in FIDELITY_FIELDS}
    out["output_distance_unit"] = task.fidelity_unit
    ref = task.fidelity_outputs(reference, None, request)
    if ref is None:
        out["output_distance_note"] = task.fidelity_note
        return out
    ref_eval, ref_forget = ref

    def pair(outputs: Any) -> tuple[float, float | None]:
        e, f = outputs
        return js_divergence(e, ref_eval), (js_divergence(f, ref_forget) if len(f) else None)

    out["output_distance_to_retrain"], out["output_distance_forget_to_retrain"] = \
        pair(task.fidelity_outputs(unlearner, None, request))
    if original is not None:
        out["output_distance_original_to_retrain"], out["output_distance_forget_original_to_retrain"] = \
            pair(task.fidelity_outputs(original, retained, request))
    else:
        out["output_distance_note"] = "the original model could not be copied"
    if second is not None:
        out["output_distance_retrain_to_retrain"], out["output_distance_forget_retrain_to_retrain"] = \
            pair(task.fidelity_outputs(second, None, request))
    out["fidelity_ratio"] = fidelity_ratio(out["output_distance_to_retrain"],
                                           out["output_distance_original_to_retrain"])
    return out


def _diagnostic_fields(report: Any) -> dict[str, Any]:
    """``step_scale`` (a safeguard shrank the update step: GIF, IF) and ``retrained``
    (a certified method fell back to retraining) from the method's report, when it has
    them, plus ``warnings``: one line per diagnostic a user must see."""
    diag = report.diagnostics or {}
    out: dict[str, Any] = {}
    warnings: list[str] = []
    scale = diag.get("step_scale")
    if isinstance(scale, (int, float)):
        out["step_scale"] = float(scale)
        if scale < STEP_SCALE_WARNING:
            warnings.append(f"{report.method}: the safeguard shrank the update step to {scale:g} "
                            f"of the solved step (below 1/8): the update barely moved the model")
    if "retrained" in diag:
        out["retrained"] = bool(diag["retrained"])
        if out["retrained"]:
            warnings.append(f"{report.method}: the certified budget ran out and the model was "
                            "retrained from scratch")
    if warnings:
        out["warnings"] = warnings
    return out


def run_cell(spec: CellSpec) -> dict[str, Any]:
    """Runs one cell and returns its record."""
    validate_spec(spec)
    task = resolve_task(spec.task)
    data = task.load(spec.dataset, spec.root, spec.split, spec.seed)
    clean, poison_request = None, None
    if spec.poison:
        from graphforget.metrics.poison import poison

        clean = data
        data, poison_request = poison(clean, spec.poison, spec.poison_ratio, spec.seed)
    unlearner = _build(spec)
    with measure() as fit_cost:
        unlearner.fit(data)
    original_params = unlearner.parameter_vector()
    original_params = original_params.clone() if original_params is not None else None
    original_logits = unlearner.predict_logits()
    original_copy = _snapshot(unlearner)
    if spec.mia:
        from graphforget.metrics.privacy import query_logits

        mia_original = query_logits(unlearner, data)  # the attacker's view before unlearning
    utility_original = task.utility(unlearner)
    before_fields = task.original_fields(unlearner, data)  # read before unlearning changes it
    request = poison_request if poison_request is not None else \
        (task.sample_request(data, spec.request, spec.ratio, spec.seed) if spec.pool is None
         else task.sample_request(data, spec.request, spec.ratio, spec.seed, pool=spec.pool))
    if not unlearner.supports(request):
        raise UnsupportedRequestError(
            f"method {spec.method!r} cannot serve {request.kind} requests")
    with measure() as unlearn_cost:
        report = unlearner.unlearn(request)
    reference = reference_for(unlearner, spec)
    retained = task.retained(data, request)
    key = _reference_key(reference, spec, request) if spec.share_reference else None
    if key is not None and key in _REFERENCE_CACHE:
        reference, retrain_cost = _REFERENCE_CACHE[key]
    else:
        with measure() as retrain_cost:
            reference.fit(retained)
        if key is not None:
            if len(_REFERENCE_CACHE) > 16:
                _REFERENCE_CACHE.clear()
            _REFERENCE_CACHE[key] = (reference, retrain_cost)
    record: dict[str, Any] = {
        "method": spec.method, "dataset": spec.dataset, "model": spec.model,
        "request": spec.request, "ratio": spec.ratio, "seed": spec.seed,
        "utility_metric": task.metric_name(data),
        "utility_original": utility_original,
        "utility_unlearned": task.utility(unlearner),
        "utility_retrain": task.utility(reference),
        "unlearn_seconds": unlearn_cost.seconds,
        "retrain_seconds": retrain_cost.seconds,
    }
    record["speedup"] = retrain_cost.seconds / max(unlearn_cost.seconds, 1e-9)
    record.update(_distances(unlearner, reference, original_params, original_logits, task))
    record["task"] = task.name
    record["items_forgotten"] = len(request)
    if hasattr(task, "edge_pool") and spec.request == "edge":
        record["pool"] = spec.pool or task.edge_pool
    record["fit_seconds"] = fit_cost.seconds
    record["report"] = report.to_dict()
    shard_ex = _shard_executor_for(unlearner, spec)
    if shard_ex is not None:
        record["shard_executor"] = shard_ex.name
    second = None
    if spec.noise_floor:
        floor_key = None if key is None else key + ("noise-floor",)
        if floor_key is not None and floor_key in _REFERENCE_CACHE:
            second = _REFERENCE_CACHE[floor_key][0]
        else:
            second = _second_reference(reference, spec.seed)
            if second is not None:
                second.fit(retained)
            if floor_key is not None:
                _REFERENCE_CACHE[floor_key] = (second, None)
    record.update(output_distances(task, unlearner, reference, original_copy, retained, request, second))
    if spec.noise_floor and second is None:
        record["output_distance_note"] = "no noise floor: the reference takes no seed"
    record.update(_diagnostic_fields(report))
    record.update(task.extra_fields(original_logits, unlearner, reference, data, request))
    record.update(before_fields)
    extras = getattr(unlearner, "bench_extras", None)
    if callable(extras):
        record.update(extras(data, request, retained))
    if spec.mia:
        from graphforget.metrics.privacy import membership_report

        result = membership_report(mia_original, unlearner, reference, data, request.node_ids,
                                   attacks=[spec.mia], seed=spec.seed)[spec.mia]
        record["mia_auc"] = result.auc
        record["mia_auc_retrain"] = result.auc_retrain
        record["mia"] = result.to_dict()
    if spec.poison:
        from graphforget.metrics.poison import recovery

        clean_model = reference.clone().fit(clean)
        utility_clean = task.utility(clean_model)
        record["poison"] = {"kind": spec.poison, "ratio": spec.poison_ratio, "items": len(request),
                            "utility_clean": utility_clean}
        record["request"] = request.kind
        record["poison_recovered"] = recovery(utility_clean, utility_original, record["utility_unlearned"])
        record["poison_recovered_retrain"] = recovery(utility_clean, utility_original,
                                                      record["utility_retrain"])
    if spec.profile:
        record["peak_memory_mb"] = {"fit": fit_cost.peak_memory_mb,
                                    "unlearn": unlearn_cost.peak_memory_mb,
                                    "retrain": retrain_cost.peak_memory_mb}
        record["cpu_seconds"] = {"fit": fit_cost.cpu_seconds, "unlearn": unlearn_cost.cpu_seconds,
                                 "retrain": retrain_cost.cpu_seconds}
    return record


def _run_cell_job(spec_dict: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return run_cell(CellSpec(**spec_dict))


def run_bench(specs: Sequence[CellSpec], executor: str | Executor = "serial",
              progress: Callable[[int, int], None] | None = None,
              executor_kwargs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Runs every cell through ``executor`` (results in ``specs`` order).

    ``serial`` and ``process`` run the cells themselves; ``ray`` runs the cells here and
    the shards of sharded methods as Ray tasks (see :func:`cell_executor`).
    ``executor_kwargs`` go to the executor (``{"address": "auto"}`` for Ray)."""
    for spec in specs:
        validate_spec(spec)
    owned, cells, context = cell_executor(executor, executor_kwargs)
    try:
        with context:
            if progress is None or cells.name != "serial":
                return cells.map(_run_cell_job, [(asdict(s),) for s in specs])
            out = []
            for i, spec in enumerate(specs):
                out.append(_run_cell_job(asdict(spec)))
                progress(i + 1, len(specs))
            return out
    finally:
        owned.close()


def _mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


SUMMARY_COLUMNS = ("utility_unlearned", "utility_retrain", "unlearn_seconds", "retrain_seconds",
                   "speedup", "distance_to_retrain", "fidelity_ratio", "output_distance_to_retrain",
                   "output_distance_retrain_to_retrain", "step_scale")


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation per (method, dataset, model, request)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["method"], r["dataset"], r["model"], r["request"]), []).append(r)
    rows = []
    for (method, dataset, model, request), recs in groups.items():
        row: dict[str, Any] = {"method": method, "dataset": dataset, "model": model,
                               "request": request, "cells": len(recs),
                               "utility_metric": recs[0]["utility_metric"]}
        for col in ("utility_original",) + SUMMARY_COLUMNS:
            row[col] = _mean_std([r.get(col) for r in recs])
        kinds = sorted({r["distance_kind"] for r in recs if r.get("distance_kind")})
        row["distance_kind"] = "/".join(kinds) or None
        row["retrained"] = sum(1 for r in recs if r.get("retrained"))
        row["warnings"] = [w for r in recs for w in r.get("warnings", [])]
        rows.append(row)
    return rows


def _fmt(pair: tuple[float, float], digits: int = 4) -> str:
    mean, std = pair
    if math.isnan(mean):
        return "n/a"
    if std == 0:
        return f"{mean:.{digits}g}"
    return f"{mean:.{digits}g} ± {std:.2g}"


def _fmt_distance(pair: tuple[float, float], kind: str | None) -> str:
    """A distance with its unit: output KL is marked ``(KL)``, parameter L2 left bare."""
    text = _fmt(pair, 3)
    return text + " (KL)" if kind == "output_kl" else text


def diagnostics_note(row: dict[str, Any]) -> str:
    """The CLI's ``notes`` cell of a summary row: ``step x0.5`` when a safeguard shrank the
    update step (mean over cells), ``retrained k/n`` when a certified method fell back to
    retraining, ``-`` otherwise."""
    notes = []
    scale = row.get("step_scale", (float("nan"), 0.0))[0]
    if not math.isnan(scale) and scale < 1:
        notes.append(f"step x{scale:.3g}")
    if row.get("retrained"):
        notes.append(f"retrained {row['retrained']}/{row['cells']}")
    return ", ".join(notes) or "-"


def to_markdown(records: Sequence[dict[str, Any]], command: str | None = None) -> str:
    """A Markdown summary table with the machine and date (for ``benchmarks/results``)."""
    import datetime

    rows = summarize(records)
    lines = []
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
              f"date: {datetime.date.today().isoformat()}", ""]
    header = ["method", "dataset", "model", "request", "utility original", "utility unlearned",
              "utility retrain", "unlearn s", "retrain s", "speed-up", "distance to retrain",
              "fidelity ratio"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for r in rows:
        lines.append("| " + " | ".join([
            r["method"], r["dataset"], r["model"], r["request"], _fmt(r["utility_original"]),
            _fmt(r["utility_unlearned"]), _fmt(r["utility_retrain"]), _fmt(r["unlearn_seconds"], 3),
            _fmt(r["retrain_seconds"], 3), _fmt(r["speedup"], 3),
            _fmt_distance(r["distance_to_retrain"], r["distance_kind"]), _fmt(r["fidelity_ratio"], 3),
        ]) + " |")
    return "\n".join(lines) + "\n"


def write_json(records: Sequence[dict[str, Any]], path: str) -> None:
    with open(path, "w") as f:
        json.dump(list(records), f, indent=2, default=str)
