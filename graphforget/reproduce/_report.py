"""Summaries, verdicts and the Markdown table of a reproduced table."""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import sys
from typing import Any

from graphforget.errors import GraphForgetError
from graphforget.reproduce._config import Reference, TableConfig
from graphforget.reproduce._runner import Job, first_and_steady

__all__ = ["verdict", "direction", "summarize_table", "compare", "render_markdown", "machine_line",
           "VERDICTS"]

VERDICTS = ("within", "better", "worse", "not comparable", "no reference", "not run")

#: ranking metrics of the recommendation / KG tasks (not in graphforget.metrics)
_RANKING = ("mrr", "recall", "ndcg", "hits", "hr", "precision")
#: record fields that are counts or times: never multiplied by the protocol's ``scale``
_UNSCALED = ("speedup", "retrains", "requests", "items_forgotten", "cells")


def direction(metric: str, utility_metric: str | None = None) -> bool:
    """Whether a larger ``metric`` is better, from :data:`graphforget.metrics.HIGHER_IS_BETTER`.

    Record fields map onto the registry's names: ``utility_*`` takes the direction of the
    task's utility metric, ``*_seconds`` that of ``seconds``, ``utility_gap`` (unlearned
    minus retrain) is higher-is-better, and any field containing a registered metric name
    (``df_auc_unlearned`` → ``auc``) or a ranking metric (``recall@20``) takes its direction.
    """
    from graphforget.metrics import HIGHER_IS_BETTER

    m = metric.lower()
    if m in HIGHER_IS_BETTER:
        return HIGHER_IS_BETTER[m]
    if m == "utility_gap":
        return True
    if m.startswith("utility_") and utility_metric:
        return direction(utility_metric)
    if m.endswith("seconds"):
        return HIGHER_IS_BETTER["seconds"]
    base = m.split("@", 1)[0]
    tokens = m.replace("@", "_").split("_")
    if base in _RANKING or any(token in _RANKING for token in tokens):  # test_hits@10_original
        return True
    for key, value in HIGHER_IS_BETTER.items():
        if key in tokens:
            return value
    raise GraphForgetError(f"no direction known for metric {metric!r}: add it to "
                           f"graphforget.metrics.HIGHER_IS_BETTER or set higher_is_better in the reference")


def verdict(ours: float, paper: float | None, paper_std: float | None = None,
            higher_is_better: bool = True, tolerance: float | None = None) -> str:
    """``within`` when ``ours`` lies in ``paper ± paper_std`` (``± tolerance`` when the paper
    gives no std; a zero-width band otherwise), else ``better`` or ``worse`` by the metric's
    direction. ``no reference`` without a paper number, ``not run`` without ours."""
    if paper is None or (isinstance(paper, float) and math.isnan(paper)):
        return "no reference"
    if ours is None or math.isnan(ours):
        return "not run"
    band = paper_std if paper_std is not None else (tolerance or 0.0)
    if abs(ours - paper) <= band + 1e-12:
        return "within"
    return "better" if (ours > paper) == bool(higher_is_better) else "worse"


def _mean_std(values: list[float]) -> tuple[float, float, int]:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(float(v))]
    if not vals:
        return float("nan"), float("nan"), 0
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def _scale_of(metric: str, scale: float) -> float:
    m = metric.lower()
    return 1.0 if (m.endswith("seconds") or m in _UNSCALED) else scale


def _value(record: dict[str, Any], metric: str) -> float | None:
    """``record[metric]`` as a float; a dotted name reads a nested field
    (``peak_memory_mb.unlearn``); booleans count as 0/1 (``weights_near_uniform``)."""
    if metric == "utility_gap" and "utility_gap" not in record:
        a, b = record.get("utility_unlearned"), record.get("utility_retrain")
        return None if a is None or b is None else a - b
    v: Any = record.get(metric)
    if v is None and "." in metric:
        v = record
        for part in metric.split("."):
            v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, bool):
        return float(v)
    return float(v) if isinstance(v, (int, float)) else None


def summarize_table(config: TableConfig, results: list[tuple[Job, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (method label, dataset): mean, std and count of the usual fields."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for job, record in results:
        if job.kind in ("cell", "sequential"):
            groups.setdefault((job.label, job.dataset), []).append(record)
    rows = []
    for (label, dataset), recs in groups.items():
        row: dict[str, Any] = {"method": label, "dataset": dataset, "cells": len(recs),
                               "utility_metric": recs[0].get("utility_metric")}
        for col in ("utility_original", "utility_unlearned", "utility_retrain", "utility_gap",
                    "unlearn_seconds", "retrain_seconds", "speedup", "distance_to_retrain", "retrains",
                    "fidelity_ratio", "output_distance_to_retrain", "output_distance_original_to_retrain",
                    "output_distance_retrain_to_retrain", "mia_auc", "mia_auc_retrain", "step_scale"):
            row[col] = _mean_std([_value(r, col) for r in recs])
        rows.append(row)
    return rows


def _per_seed(results: list[tuple[Job, dict[str, Any]]], label: str, dataset: str) -> dict[int, dict]:
    return {job.seed: rec for job, rec in results
            if job.kind in ("cell", "sequential") and job.label == label and job.dataset == dataset}


def compare(config: TableConfig, results: list[tuple[Job, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One comparison per reference number whose (method, dataset) was run, plus one
    row (``no reference``) per run (method, dataset) that the paper does not report."""
    scale = float(config.protocol.get("scale", 1.0))
    rows = []
    ran = {(job.label, job.dataset) for job, _ in results if job.kind in ("cell", "sequential")}
    referenced = set()
    for ref in config.references:
        if (ref.method, ref.dataset) not in ran:
            continue
        referenced.add((ref.method, ref.dataset))
        rows.append(_compare_one(config, ref, results, scale))
    main = config.protocol["metric"]
    labels, datasets = [m.name for m in config.methods], list(config.protocol["datasets"])

    def order(k: tuple[str, str]) -> tuple[int, int, str]:  # the protocol's method, then dataset, order
        return (labels.index(k[0]), datasets.index(k[1]) if k[1] in datasets else len(datasets), k[1])

    for label, dataset in sorted(ran - referenced, key=order):
        fake = Reference(method=label, dataset=dataset, metric=main, mean=None)
        rows.append(_compare_one(config, fake, results, scale))
    return rows


def _compare_one(config: TableConfig, ref: Reference, results: list[tuple[Job, dict[str, Any]]],
                 scale: float) -> dict[str, Any]:
    ours = _per_seed(results, ref.method, ref.dataset)
    utility_metric = next((r.get("utility_metric") for r in ours.values()), None)
    values = []
    what = ref.metric
    if ref.relative_to:
        rel = ref.relative_to
        base = _per_seed(results, rel["method"], ref.dataset)
        op = rel["op"]
        what = {"minus": f"{ref.metric} − {rel['method']} {rel['metric']}",
                "speedup": f"{rel['method']} {rel['metric']} / {ref.metric}",
                "ratio": f"{ref.metric} / {rel['method']} {rel['metric']}"}[op]
        for seed, rec in ours.items():
            a, b = _value(rec, ref.metric), _value(base.get(seed, {}), rel["metric"])
            if a is None or b is None:
                continue
            if op == "minus":
                values.append((a - b) * _scale_of(ref.metric, scale))
            elif op == "speedup":
                values.append(b / max(a, 1e-12))
            else:
                values.append(a / b if b else float("nan"))
        hib = ref.higher_is_better if ref.higher_is_better is not None else (
            True if op == "speedup" else direction(ref.metric, utility_metric))
    else:
        s = _scale_of(ref.metric, scale)
        values = [v * s for v in (_value(r, ref.metric) for r in ours.values()) if v is not None]
        if ref.higher_is_better is not None:
            hib = ref.higher_is_better
        elif ref.mean is None:  # no paper number, no verdict: a metric without a direction is fine
            try:
                hib = direction(ref.metric, utility_metric)
            except GraphForgetError:
                hib = None
        else:
            hib = direction(ref.metric, utility_metric)
    mean, std, n = _mean_std(values)
    std = std if n > 1 else None  # one seed has no spread: shown bare, not as ± 0
    return {"method": ref.method, "dataset": ref.dataset, "metric": what, "mean": mean, "std": std,
            "n": n, "paper": ref.mean, "paper_std": ref.std, "tolerance": ref.tolerance,
            "higher_is_better": hib, "citation": ref.citation, "note": ref.note,
            "verdict": ("not comparable" if ref.not_comparable and ref.mean is not None
                        else verdict(mean, ref.mean, ref.std, hib, ref.tolerance)),
            "not_comparable": ref.not_comparable}


def _fmt(mean: float, std: float | None = None, digits: int = 2) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "n/a"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fmt_g(pair: tuple[float, float, int], digits: int = 4) -> str:
    mean, std, n = pair
    if n == 0:
        return "n/a"
    return f"{mean:.{digits}g}" if n == 1 else f"{mean:.{digits}g} ± {std:.2g}"


def _versions() -> str:
    from importlib import metadata

    parts = []
    for pkg in ("graphforget", "torch", "torch_geometric", "numpy", "scipy", "scikit-learn"):
        try:
            parts.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(parts)


def machine_line() -> str:
    import torch

    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}, Python {sys.version.split()[0]}, {torch.get_num_threads()} torch "
            f"threads; packages: {_versions()}; date: {datetime.date.today().isoformat()}")


def _cite(c: dict[str, Any]) -> str:
    parts = [c.get("paper", "")]
    for key in ("table", "column"):
        if c.get(key):
            parts.append(str(c[key]))
    text = ", ".join(p for p in parts if p)
    if c.get("source") and c["source"] != "paper":
        text += f" (source: {c['source']})"
    return text


def _entry_text(m: Any) -> str:
    text = f"`{m.name}` = {m.method}"
    extras = {k: v for k, v in (("model", m.model), ("request", m.request), ("ratio", m.ratio),
                                ("mia", m.mia), ("profile", m.profile), ("poison", m.poison)) if v is not None}
    if extras:
        text += " " + ", ".join(f"{k} {v}" for k, v in extras.items())
    text += f" `{m.params}`" if m.params else ""
    return text + (f" (only on {', '.join(m.datasets)})" if m.datasets is not None else "")


def render_markdown(config: TableConfig, results: list[tuple[Job, dict[str, Any]]], command: str,
                    quick: bool, plots: list[str] | None = None, wall_seconds: float | None = None,
                    cached: int = 0, provenance: dict[str, Any] | None = None) -> str:
    """The results page of one table: protocol, ours beside the paper's with a verdict
    per cell, per-cell details, partition statistics, plots and the machine."""
    p = config.protocol
    lines = [f"# {config.title}", "", f"Command: `{command}`", "", machine_line(), ""]
    if wall_seconds is not None:
        lines += [f"Wall time of this invocation: {wall_seconds:.1f} s; {cached} of {len(results)} cells came "
                  f"from the cache of finished cells (their own timings are kept in the records).", ""]
    if provenance and provenance.get("first"):
        text = f"Cells finished between {provenance['first']} and {provenance['last']} UTC (cache timestamps)"
        if provenance.get("timed"):
            text += (f"; the {provenance['timed']} cells whose wall time the cache records took "
                     f"{provenance['seconds']:.1f} s in all")
        lines += [text + ".", ""]
    lines += [f"Paper: {_cite(config.citation)}" + (f" — <{config.citation['url']}>" if config.citation.get("url") else ""), ""]
    proto = (f"Protocol: task `{p['task']}`, datasets {', '.join(p['datasets'])}, split "
             f"`{p.get('split') or 'default'}`, backbone `{p.get('model') or 'task default'}`, request "
             f"`{p['request']}`")
    if config.kind == "cells":
        proto += f" ratio {p['ratio']:g}" if "ratio" in p else " (partition study only)"
    else:
        proto += f", {p['removals']} removals in requests of {p.get('batch', 1)}, evaluated every {p['every']}"
    proto += f", seeds {p['first_seed']}..{p['first_seed'] + p['seeds'] - 1}"
    for name in p.get("dataset_seeds", {}):
        seeds = config.seeds_for(name)
        proto += f" ({name}: seeds {seeds[0]}..{seeds[-1]})"
    if p.get("params"):
        proto += f", params `{p['params']}`"
    options = [f"`{key}: {p[key]}`" for key in ("mia", "profile", "poison") if p.get(key)]
    if options:
        proto += ", cell options " + ", ".join(options)
    lines += [proto + ".", ""]
    if config.methods:
        lines += ["Methods: " + "; ".join(_entry_text(m) for m in config.methods) + ".", ""]
    if quick:
        lines += [f"**Quick protocol** (reduced; verdicts compare a smaller run with the paper's full "
                  f"protocol, not a reproduction claim): {config.quick['description'].strip()}", ""]
    comparisons = compare(config, results)
    lines += ["## Ours beside the paper", "",
              "Verdict: `within` = our mean lies inside the paper's mean ± std (± the stated tolerance "
              "where the paper gives no std); otherwise `better`/`worse` by the metric's direction "
              "(`graphforget.metrics.HIGHER_IS_BETTER`); `not comparable` = the paper's number is shown "
              "for orientation, but its dataset, protocol or metric differs from ours (the reason is in "
              "the reference column), so no verdict is drawn.", "",
              "| method | dataset | metric | ours (mean ± std) | n | paper | verdict | reference |",
              "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        paper = "—" if c["paper"] is None else _fmt(c["paper"], c["paper_std"])
        if c["paper"] is not None and c["paper_std"] is None and c["tolerance"]:
            paper += f" (tol. ± {c['tolerance']:g})"
        ref = _cite(c["citation"]) if c["paper"] is not None else ""
        if c.get("not_comparable"):
            ref += f"; **not comparable:** {c['not_comparable']}"
        if c["note"]:
            ref += f"; {c['note']}"
        arrow = {True: " ↑", False: " ↓"}.get(c["higher_is_better"], "")
        lines.append(f"| {c['method']} | {c['dataset']} | {c['metric']}{arrow} | {_fmt(c['mean'], c['std'])} | "
                     f"{c['n']} | {paper} | {c['verdict']} | {ref} |")
    counts = {v: sum(c["verdict"] == v for c in comparisons) for v in VERDICTS}
    lines += ["", "Summary: " + ", ".join(f"{v}: {n}" for v, n in counts.items() if n), ""]
    rows = summarize_table(config, results)
    lines += ["## Per-cell details (raw units)", "",
              "| method | dataset | utility metric | original | unlearned | retrain | unlearn s | retrain s | "
              "speed-up | distance to retrain | cells |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['dataset']} | {r['utility_metric']} | {_fmt_g(r['utility_original'])} | "
                     f"{_fmt_g(r['utility_unlearned'])} | {_fmt_g(r['utility_retrain'])} | "
                     f"{_fmt_g(r['unlearn_seconds'], 3)} | {_fmt_g(r['retrain_seconds'], 3)} | "
                     f"{_fmt_g(r['speedup'], 3)} | {_fmt_g(r['distance_to_retrain'], 3)} | {r['cells']} |")
    if p.get("columns"):
        lines += ["", "## Measured fields (raw units, mean ± std over seeds)", "",
                  "| method | dataset | " + " | ".join(p["columns"]) + " |",
                  "|---|---|" + "---|" * len(p["columns"])]
        cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for job, record in results:
            if job.kind in ("cell", "sequential"):
                cells.setdefault((job.label, job.dataset), []).append(record)
        for (label, dataset), recs in cells.items():
            values = [_fmt_g(_mean_std([_value(r, col) for r in recs])) for col in p["columns"]]
            lines.append(f"| {label} | {dataset} | " + " | ".join(values) + " |")
    if any(not math.isnan(r["fidelity_ratio"][0]) for r in rows):
        lines += ["", "## Fidelity (output space)", "",
                  "Distances are mean Jensen–Shannon divergences in bits over the task's evaluation units "
                  "(`output_distance_unit`), every model queried on the retained data. `fidelity_ratio` = "
                  "unlearned-to-retrain / original-to-retrain (0: at the retrained model, 1: no movement); "
                  "noise floor = retrain-to-retrain with another seed (`--noise-floor`); a ratio is only "
                  "readable where original-to-retrain is well above the noise floor. MIA: the loss "
                  "attack's AUC on the forgotten nodes (node requests only).", "",
                  "| method | dataset | fidelity ratio ↓ | unlearned→retrain | original→retrain | "
                  "noise floor | speed-up | step scale | MIA AUC | MIA AUC (retrain) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['method']} | {r['dataset']} | {_fmt_g(r['fidelity_ratio'], 3)} | "
                         f"{_fmt_g(r['output_distance_to_retrain'], 3)} | "
                         f"{_fmt_g(r['output_distance_original_to_retrain'], 3)} | "
                         f"{_fmt_g(r['output_distance_retrain_to_retrain'], 3)} | {_fmt_g(r['speedup'], 3)} | "
                         f"{_fmt_g(r['step_scale'], 3)} | {_fmt_g(r['mia_auc'], 3)} | "
                         f"{_fmt_g(r['mia_auc_retrain'], 3)} |")
    seq = [(j, r) for j, r in results if j.kind == "sequential"]
    if seq:
        lines += ["", "Sequential runs: retrain events (request index where the certified budget forced a "
                  "retrain): " + "; ".join(f"{j.label}/{j.dataset}/seed {j.seed}: "
                                          f"{r.get('retrain_events') or 'none'}" for j, r in seq)]
        timed = [(j, *first_and_steady(r.get("curve", []))) for j, r in seq]
        timed = [(j, first, steady) for j, first, steady in timed if first is not None and steady]
        if timed:
            lines += ["", "First request after the fit against the steady ones (median of the later "
                      "requests that did not retrain): " + "; ".join(
                          f"{j.label}/{j.dataset}/seed {j.seed}: {first:.3g} s vs {steady:.3g} s "
                          f"({first / steady:.2f}x)" for j, first, steady in timed)]
    parts = [(j, r) for j, r in results if j.kind == "partition"]
    if parts:
        lines += ["", "## Partition statistics", "",
                  "Balance = Σ|n_i − n/k| / 2n (0 = equal sizes); label fairness = mean total-variation "
                  "distance of a shard's label histogram from the global one (0 = fair).", "",
                  "Memory: peak resident memory of the process during the call, and its growth over the "
                  "resident memory at the call's start.", "",
                  "| partitioner | dataset | shards | min size | max size | balance | label fairness | "
                  "cut-edge ratio | seconds | peak MiB | growth MiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for j, r in parts:
            mem = " | ".join(f"{r[k]:.0f}" if isinstance(r.get(k), (int, float)) else "n/a"
                             for k in ("peak_memory_mb", "delta_memory_mb"))
            lines.append(f"| {j.label} | {j.dataset} | {r['num_shards']} | {r['min_size']} | {r['max_size']} | "
                         f"{r['balance']:.3f} | {r.get('label_fairness', float('nan')):.3f} | "
                         f"{r.get('cut_edge_ratio', float('nan')):.3f} | {r['seconds']:.3f} | {mem} |")
    if plots:
        lines += ["", "## Plots", ""]
        for path in plots:
            if path.endswith(".png"):
                lines += [f"![{os.path.basename(path)}]({path})", ""]
    if config.notes:
        lines += ["", "## Notes", "", config.notes]
    return "\n".join(lines).rstrip() + "\n"
