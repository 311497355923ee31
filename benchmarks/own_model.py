"""User-model path vs built-in path (issue #19): GIF, GNNDelete and GraphEraser on Cora.

This is a script, not a set of benchmark cells (``graphforget bench``): it compares two
*APIs* of the same method on the same architecture, which a method cell (one method,
one configuration) cannot express. For every seed:

* **GIF / GNNDelete**: the built-in path fits ``make_method(m, model="gcn")``; the user
  path loads the very same weights into PyG's ``GCN`` (same architecture) and calls
  ``make_method(m).attach(model, data)``. Both forget the same 5% of the edges. Same
  weights in, so utility must be equal and the unlearn seconds equal within noise (the
  adapter must add no overhead).
* **GraphEraser**: the built-in path is ``model="gcn"``; the user path is
  ``model=factory`` (PyG's ``GCN``) with ``train_fn=`` a loop equal to the built-in one
  (full-batch Adam, same lr, weight decay and epochs). Both forget one training node.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/own_model.py --seeds 2 --shards 4

writes ``benchmarks/results/own_model.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from _common import header
from torch_geometric.nn.models import GCN

import graphforget as gf
from graphforget.requests import sample_edges, sample_nodes

RESULTS = Path(__file__).resolve().parent / "results"
HIDDEN, LAYERS, EPOCHS, LR, WD = 64, 2, 200, 0.01, 5e-4


def user_train(model: torch.nn.Module, data) -> None:
    """A user's loop equal to graphforget's built-in one."""
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WD)
    for _ in range(EPOCHS):
        model.train()
        opt.zero_grad()
        out = model(data.x, data.edge_index)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
        opt.step()
    model.eval()


def run(seeds: int, shards: int) -> list[dict]:
    data = gf.load_dataset("cora", split="public")
    classes = int(data.num_classes)

    def factory() -> torch.nn.Module:
        return GCN(data.num_features, HIDDEN, LAYERS, classes, dropout=0.5)

    rows = []
    for seed in range(seeds):
        edges = gf.EdgeRequest(sample_edges(data, ratio=0.05, seed=seed).edge_index)
        node = sample_nodes(data, count=1, seed=seed)
        for method in ("gif", "gnndelete"):
            builtin = gf.make_method(method, model="gcn", hidden_channels=HIDDEN, num_layers=LAYERS,
                                     epochs=EPOCHS, seed=seed).fit(data)
            user_model = factory()
            user_model.load_state_dict(builtin.model_.state_dict())
            attached = gf.make_method(method, seed=seed).attach(user_model, data)
            order = [("built-in", builtin), ("user (attach)", attached)]
            if seed % 2:
                order.reverse()  # alternate which path runs first
            for path, u in order:
                report = u.unlearn(edges)
                rows.append({"method": method, "path": path, "seed": seed, "utility": u.score(),
                             "seconds": report.seconds})
        for path, model, train_fn in (("built-in", "gcn", None), ("user (factory + train_fn)", factory, user_train)):
            start = time.perf_counter()
            u = gf.make_method("grapheraser", model=model, train_fn=train_fn, hidden_channels=HIDDEN,
                               num_layers=LAYERS, epochs=EPOCHS, shards=shards, seed=seed).fit(data)
            fit_s = time.perf_counter() - start
            report = u.unlearn(node)
            rows.append({"method": "grapheraser", "path": path, "seed": seed, "utility": u.score(),
                         "seconds": report.seconds, "fit_seconds": fit_s})
        print(f"seed {seed} done", file=sys.stderr)
    return rows


def to_markdown(rows: list[dict], command: str, seeds: int, shards: int) -> str:
    lines = ["# Own model vs built-in backbone (issue #19)", ""] + header(command)
    lines += [f"Cora (public split), GCN {LAYERS} layers x {HIDDEN} hidden, dropout 0.5, {EPOCHS} epochs "
              f"Adam lr {LR} wd {WD}; {seeds} seed(s). GIF and GNNDelete forget 5% of the edges "
              f"(user path: PyG's `GCN` holding the built-in model's weights, `attach`); GraphEraser "
              f"({shards} shards, BLPA, mean) forgets one training node (user path: factory + "
              "`train_fn`, a loop equal to the built-in one). Utility: test accuracy after the "
              "request; seconds: `UnlearnReport.seconds` (mean over seeds, min-max in brackets).", "",
              "| method | path | utility after | unlearn seconds | ratio user/built-in (seconds) |",
              "|---|---|---|---|---|"]
    for method in ("gif", "gnndelete", "grapheraser"):
        mine = [r for r in rows if r["method"] == method]
        paths = list(dict.fromkeys(r["path"] for r in mine))
        base = statistics.mean(r["seconds"] for r in mine if r["path"] == paths[0])
        for path in paths:
            sel = [r for r in mine if r["path"] == path]
            util = statistics.mean(r["utility"] for r in sel)
            secs = [r["seconds"] for r in sel]
            ratio = "1 (reference)" if path == paths[0] else f"{statistics.mean(secs) / base:.2f}"
            lines.append(f"| {method} | {path} | {util:.4f} | {statistics.mean(secs):.3f} "
                         f"[{min(secs):.3f}-{max(secs):.3f}] | {ratio} |")
    same = {}
    for method in ("gif", "gnndelete", "grapheraser"):
        mine = [r for r in rows if r["method"] == method]
        by_seed: dict[int, set] = {}
        for r in mine:
            by_seed.setdefault(r["seed"], set()).add(round(r["utility"], 6))
        same[method] = all(len(v) == 1 for v in by_seed.values())
    lines += ["", "Utility identical between the two paths in every seed: "
              + ", ".join(f"{m} {'yes' if v else 'no'}" for m, v in same.items()) + ".", "",
              "Per run:", "", "| method | path | seed | utility | seconds |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['path']} | {r['seed']} | {r['utility']:.4f} | {r['seconds']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    rows = run(args.seeds, args.shards)
    command = f"OMP_NUM_THREADS=1 python benchmarks/own_model.py --seeds {args.seeds} --shards {args.shards}"
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "own_model.md"
    out.write_text(to_markdown(rows, command, args.seeds, args.shards))
    print(out)


if __name__ == "__main__":
    main()
