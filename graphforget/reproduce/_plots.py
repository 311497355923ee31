"""Plots of a reproduced table (matplotlib, optional extra ``plots``), PNG and SVG.

* :func:`removal_curve` — utility vs number of sequential removals, with the retrain
  curve and the requests at which a certified method had to retrain;
* :func:`time_bars` — unlearning time vs retrain time per method (log scale);
* :func:`tradeoff_scatter` — utility vs speed-up, one panel per dataset;
* :func:`partition_bars` — balance and label fairness per partitioner.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from graphforget.errors import GraphForgetError

__all__ = ["make_plots", "removal_curve", "time_bars", "tradeoff_scatter", "partition_bars"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise GraphForgetError("plots need matplotlib: pip install 'graphforget[plots]' "
                               "(or run with --no-plots)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path, stem: str) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = out / f"{stem}.{ext}"
        fig.savefig(path, dpi=120, bbox_inches="tight",
                    metadata={"Date": None} if ext == "svg" else None)
        paths.append(str(path))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def _mean(values: list[float]) -> float:
    vals = [v for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return statistics.fmean(vals) if vals else float("nan")


def removal_curve(results: list[tuple[Any, dict[str, Any]]], out: Path, stem: str, title: str) -> list[str]:
    seq = [(j, r) for j, r in results if j.kind == "sequential"]
    if not seq:
        return []
    plt = _pyplot()
    datasets = sorted({j.dataset for j, _ in seq})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for j, r in seq:
            if j.dataset != dataset:
                continue
            pts = [p for p in r["curve"] if p.get("utility") is not None]
            x = [p["items"] for p in pts]
            line, = ax.plot(x, [p["utility"] for p in pts], marker="o", ms=3,
                            label=f"{j.label} (seed {j.seed})")
            rx = [p["items"] for p in pts if p.get("utility_retrain") is not None]
            ry = [p["utility_retrain"] for p in pts if p.get("utility_retrain") is not None]
            ax.plot(rx, ry, ls="--", color=line.get_color(), alpha=0.7, label=f"retrain (seed {j.seed})")
            batch = max(1, r["items_forgotten"] // max(r["requests"], 1))
            for i, step in enumerate(r.get("retrain_events") or []):
                ax.axvline(step * batch, color=line.get_color(), ls=":", alpha=0.6,
                           label="retrain event" if i == 0 else None)
        ax.set_xlabel("items removed (sequential requests)")
        ax.set_ylabel(seq[0][1].get("utility_metric", "utility"))
        ax.set_title(f"{title}: {dataset}")
        ax.legend(fontsize=7)
    return _save(fig, out, f"{stem}_removal_curve")


def _cell_groups(results: list[tuple[Any, dict[str, Any]]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for j, r in results:
        if j.kind in ("cell", "sequential"):
            groups.setdefault((j.label, j.dataset), []).append(r)
    return groups


def time_bars(results: list[tuple[Any, dict[str, Any]]], out: Path, stem: str, title: str) -> list[str]:
    groups = _cell_groups(results)
    if not groups:
        return []
    plt = _pyplot()
    keys = list(groups)
    un = [_mean([r.get("unlearn_seconds") for r in groups[k]]) for k in keys]
    re = [_mean([r.get("retrain_seconds") for r in groups[k]]) for k in keys]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(keys) + 2), 4))
    xs = range(len(keys))
    ax.bar([x - 0.2 for x in xs], [max(v, 1e-6) for v in un], width=0.4, label="unlearn")
    ax.bar([x + 0.2 for x in xs], [max(v, 1e-6) for v in re], width=0.4, label="retrain (reference)")
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([f"{m}\n{d}" for m, d in keys], fontsize=7, rotation=30, ha="right")
    ax.set_ylabel("seconds (log scale)")
    ax.set_title(f"{title}: unlearning vs retraining time")
    ax.legend()
    return _save(fig, out, f"{stem}_time")


def tradeoff_scatter(results: list[tuple[Any, dict[str, Any]]], out: Path, stem: str, title: str) -> list[str]:
    groups = _cell_groups(results)
    if not groups:
        return []
    plt = _pyplot()
    datasets = sorted({d for _, d in groups})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for (label, d), recs in groups.items():
            if d != dataset:
                continue
            x = _mean([r.get("speedup") for r in recs])
            y = _mean([r.get("utility_unlearned") for r in recs])
            ax.scatter([x], [y], s=40)
            ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        # the table's own exact baseline, when it has one (each method's reference differs)
        retrain = _mean([r.get("utility_unlearned") for r in groups.get(("retrain", dataset), [])])
        if not math.isnan(retrain):
            ax.axhline(retrain, ls="--", color="grey", label="retrain")
        ax.axvline(1.0, ls=":", color="grey")
        ax.set_xscale("log")
        ax.set_xlabel("speed-up over retraining (log)")
        ax.set_ylabel(next(iter(groups.values()))[0].get("utility_metric", "utility"))
        ax.set_title(f"{dataset}")
        if not math.isnan(retrain):
            ax.legend(fontsize=7)
    fig.suptitle(f"{title}: utility–speed trade-off")
    return _save(fig, out, f"{stem}_tradeoff")


def fidelity_scatter(results: list[tuple[Any, dict[str, Any]]], out: Path, stem: str, title: str) -> list[str]:
    """``fidelity_ratio`` (log) against speed-up (log) per method label and dataset; drawn
    for tables that measure the noise floor (``noise_floor: true``). Each point's own noise
    floor (retrain-to-retrain over original-to-retrain: the lowest ratio seed noise lets a
    method be told apart from retraining) is a grey tick at the same speed-up."""
    groups = {k: v for k, v in _cell_groups(results).items()
              if any(r.get("output_distance_retrain_to_retrain") is not None for r in v)}
    if not groups:
        return []
    plt = _pyplot()
    datasets = sorted({d for _, d in groups})
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        floor_label = "noise floor of the cell"
        for (label, d), recs in groups.items():
            if d != dataset or label.startswith("retrain"):
                continue
            x = _mean([r.get("speedup") for r in recs])
            y = _mean([r.get("fidelity_ratio") for r in recs])
            if math.isnan(x) or math.isnan(y):
                continue
            ax.scatter([x], [max(y, 1e-4)], s=30)
            ax.annotate(label, (x, max(y, 1e-4)), fontsize=6, xytext=(3, 3), textcoords="offset points")
            floor = _mean([r["output_distance_retrain_to_retrain"] / r["output_distance_original_to_retrain"]
                           for r in recs if r.get("output_distance_retrain_to_retrain") is not None
                           and r.get("output_distance_original_to_retrain")])
            if not math.isnan(floor):
                ax.scatter([x], [max(floor, 1e-4)], marker="_", s=80, color="grey", label=floor_label)
                floor_label = None
        ax.axhline(1.0, ls=":", color="grey", label="no movement")
        ax.axvline(1.0, ls=":", color="grey")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("speed-up over retraining (log)")
        ax.set_ylabel("fidelity ratio (log, lower is closer)")
        ax.set_title(dataset)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: fidelity ratio vs speed-up")
    return _save(fig, out, f"{stem}_fidelity")


def partition_bars(results: list[tuple[Any, dict[str, Any]]], out: Path, stem: str, title: str) -> list[str]:
    parts = [(j, r) for j, r in results if j.kind == "partition"]
    if not parts:
        return []
    plt = _pyplot()
    datasets = sorted({j.dataset for j, _ in parts})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        rows = [(j.label, r) for j, r in parts if j.dataset == dataset]
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [r["balance"] for _, r in rows], width=0.4, label="balance (0 = equal)")
        ax.bar([x + 0.2 for x in xs], [r.get("label_fairness", float("nan")) for _, r in rows], width=0.4,
               label="label TV distance (0 = fair)")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([name for name, _ in rows])
        ax.set_title(f"{dataset}, {rows[0][1]['num_shards']} shards")
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: partition balance and fairness")
    return _save(fig, out, f"{stem}_partitions")


def make_plots(results: list[tuple[Any, dict[str, Any]]], out: str | Path, stem: str, title: str) -> list[str]:
    """Every plot that applies to ``results``; returns the written paths (PNG and SVG)."""
    out = Path(out)
    paths: list[str] = []
    for fn in (removal_curve, time_bars, tradeoff_scatter, fidelity_scatter, partition_bars):
        paths += fn(results, out, stem, title)
    return paths
