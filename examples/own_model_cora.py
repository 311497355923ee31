"""Unlearning with your own model: PyG's GCN on Cora, trained by your own loop.

Trains :class:`torch_geometric.nn.models.GCN` on Cora the way PyG's ``examples/gcn.py``
does (row-normalised features, public split, 2 layers x 16 hidden, dropout 0.5, Adam
lr 0.01, weight decay 5e-4, 200 full-batch epochs), then makes it forget

* 5% of the edges with GIF (``attach``: no refit, the model is updated in place);
* the same edges with GNNDelete (``attach``: deletion operators on the frozen model);
* one training node with GraphEraser (fresh shard models from your factory, trained
  by your loop),

printing test accuracy before/after and the seconds each call took.

Run::

    GRAPHFORGET_DATA=/path/to/datasets python examples/own_model_cora.py [--epochs 200]

(``OWN_MODEL_EPOCHS`` overrides the default number of epochs, as ``--epochs`` does.)
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch_geometric.nn.models import GCN

import graphforget as gf
from graphforget.requests import sample_edges, sample_nodes


def train(model: torch.nn.Module, data, epochs: int = 200) -> None:
    """PyG's examples/gcn.py loop."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        optimizer.zero_grad()
        out = model(data.x, data.edge_index)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
        optimizer.step()
    model.eval()


@torch.no_grad()
def test(model: torch.nn.Module, data) -> float:
    model.eval()
    pred = model(data.x, data.edge_index).argmax(dim=-1)
    return float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("OWN_MODEL_EPOCHS", 200)))
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = T.NormalizeFeatures()(gf.load_dataset("cora", split="public"))
    torch.manual_seed(args.seed)
    model = GCN(data.num_features, 16, num_layers=2, out_channels=int(data.num_classes), dropout=0.5)
    start = time.perf_counter()
    train(model, data, args.epochs)
    print(f"trained GCN on Cora: test accuracy {test(model, data):.4f} ({time.perf_counter() - start:.2f}s)")

    results: dict[str, dict[str, float]] = {}
    edges = sample_edges(data, ratio=0.05, seed=args.seed)
    for method in ("gif", "gnndelete"):
        mine = copy.deepcopy(model)  # each method gets its own copy of the trained model
        forgetter = gf.make_method(method).attach(mine, data)
        before = forgetter.score()
        report = forgetter.unlearn(gf.EdgeRequest(edges.edge_index))
        results[method] = {"before": before, "after": forgetter.score(), "seconds": report.seconds}
        print(f"{method:>11}: forgot {len(edges)} edges (5%) in {report.seconds:.3f}s; "
              f"test accuracy {before:.4f} -> {results[method]['after']:.4f}")

    def factory() -> torch.nn.Module:
        return GCN(data.num_features, 16, num_layers=2, out_channels=int(data.num_classes), dropout=0.5)

    def shard_train(m: torch.nn.Module, d) -> None:
        train(m, d, args.epochs)

    start = time.perf_counter()
    eraser = gf.make_method("grapheraser", model=factory, train_fn=shard_train,
                            shards=args.shards, seed=args.seed).fit(data)
    fit_s = time.perf_counter() - start
    before = eraser.score()
    node = sample_nodes(data, count=1, seed=args.seed)
    report = eraser.unlearn(node)
    results["grapheraser"] = {"before": before, "after": eraser.score(), "seconds": report.seconds}
    print(f"grapheraser: {args.shards} shards fitted in {fit_s:.2f}s; forgot node {int(node.node_ids[0])} "
          f"in {report.seconds:.3f}s (shards retrained: {report.affected['shards']}); "
          f"test accuracy {before:.4f} -> {results['grapheraser']['after']:.4f}")
    return results


if __name__ == "__main__":
    main()
