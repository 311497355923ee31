"""The ``graphforget`` command line: ``demo``, ``bench`` and ``list``.

Errors in user input end in one line on stderr (``graphforget: error: ...``) and exit
status 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from graphforget.errors import GraphForgetError

__all__ = ["main", "build_parser"]

# Sub-command hooks other modules add (name -> (configure(parser), run(args))).
EXTRA_COMMANDS: dict[str, tuple[Any, Any]] = {}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(2, f"graphforget: error: {message}\n")


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ratio must be a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"ratio must lie in (0, 1), got {text}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _param(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param expects key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def _add_bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", action="append", required=True,
                   help="method name (repeat for several); see `graphforget list`")
    p.add_argument("--dataset", default=None, help="dataset name (default: the task's)")
    p.add_argument("--model", default=None,
                   help="backbone (default: the task's, or the method's first supported model)")
    p.add_argument("--task", default="node", help="node (default), or a task added by a method")
    p.add_argument("--request", default="node", help="request kind: node|edge|feature|...")
    p.add_argument("--ratio", type=_ratio, default=0.05, help="fraction forgotten (default 0.05)")
    p.add_argument("--seeds", type=_positive, default=1, help="number of seeds (default 1)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed S (default 0)")
    p.add_argument("--split", default=None, help="split: public|full|0.8/0.2|0.6/0.2/0.2")
    p.add_argument("--root", default=None, help="data root (default $GRAPHFORGET_DATA)")
    p.add_argument("--clients", type=_positive, default=None,
                   help="federated clients C (kg task): passed to the method as clients=C and, "
                        "unless --split is given, selects the relation-clustered split C<C>")
    p.add_argument("--param", action="append", type=_param, default=[],
                   help="extra method parameter key=value (JSON values), repeatable")
    p.add_argument("--executor", default="serial", help="serial (default), process, ray")
    p.add_argument("--partition", default=None,
                   help="sharded methods: random|blpa|louvain|bekm|metis; guide: fast|sr; "
                        "receraser: ubp|ibp|inbp|random")
    p.add_argument("--aggregator", default=None,
                   help="sharded methods: mean|majority|learned (or mean-log)")
    p.add_argument("--shards", type=_positive, default=None, help="sharded methods: shards K")
    p.add_argument("--repair", default=None,
                   help="guide: subgraph repair none|zero|mirror|mixup")
    p.add_argument("--setting", default=None,
                   help="sharded methods: transductive|inductive (guide: inductive)")
    p.add_argument("--profile", action="store_true",
                   help="add peak_memory_mb and cpu_seconds (fit, unlearn, retrain) to records")
    p.add_argument("--mia", nargs="?", const="loss", default=None, metavar="ATTACK",
                   help="add mia_auc / mia_auc_retrain: loss (default), posterior or shadow attack")
    p.add_argument("--poison", nargs="?", const="edge", default=None, metavar="KIND",
                   help="inject a poison and forget it: edge (10%% heterophilic edges, default) or "
                        "label (flipped training labels); adds poison_recovered")
    p.add_argument("--poison-ratio", type=float, default=0.1, help="poison size (default 0.1)")
    p.add_argument("--noise-floor", action="store_true",
                   help="fit a second retrain with another seed and add output_distance_retrain_to_retrain "
                        "(the noise floor of fidelity_ratio; one more retrain per cell)")
    p.add_argument("--json", dest="json_out", default=None, help="write records to this file")
    p.add_argument("--markdown", dest="markdown_out", default=None, help="write a Markdown table")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphforget", description="Machine unlearning for PyTorch Geometric.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="train, forget 5%% of edges and nodes, compare methods")
    demo.add_argument("--dataset", default="synthetic", help="synthetic (default), karate, cora, ...")
    demo.add_argument("--root", default=None, help="data root (default $GRAPHFORGET_DATA)")
    demo.add_argument("--model", default="gcn", help="backbone (default gcn)")
    demo.add_argument("--ratio", type=_ratio, default=0.05, help="fraction forgotten (default 0.05)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--method", action="append", default=None, help="restrict to these methods")
    bench = sub.add_parser("bench", help="benchmark methods against retraining")
    _add_bench_args(bench)
    sub.add_parser("list", help="list methods, datasets, models and tasks")
    for name, (configure, _run) in EXTRA_COMMANDS.items():
        configure(sub.add_parser(name))
    return parser


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped output: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


def _print_table(records: Sequence[dict[str, Any]], title: str, include_original: bool = False) -> None:
    from rich.table import Table

    from graphforget.bench.runner import _fmt, _fmt_distance, diagnostics_note, summarize

    table = Table(title=title)
    for col in ("method", "request", "utility orig.", "utility unlearned", "utility retrain",
                "unlearn s", "retrain s", "speed-up", "dist. to retrain", "fidelity", "notes"):
        table.add_column(col, justify="left" if col in ("method", "request") else "right",
                         no_wrap=col in ("method", "request"))
    rows = summarize(records)
    if include_original:
        seen = set()
        # the plain reference's record carries the original backbone (not, say, CGU's SGC)
        ordered = sorted(records, key=lambda r: r["method"] != "retrain")
        for r in ordered:
            if r["request"] in seen:
                continue
            seen.add(r["request"])
            table.add_row("original (no unlearning)", r["request"], _fmt((r["utility_original"], 0)),
                          _fmt((r["utility_original"], 0)), _fmt((r["utility_retrain"], 0)),
                          "0", _fmt((r["retrain_seconds"], 0), 3), "-",
                          _fmt_distance((r["distance_original_to_retrain"], 0), r.get("distance_kind")),
                          "1", "-")
    for r in rows:
        table.add_row(r["method"], r["request"], _fmt(r["utility_original"]),
                      _fmt(r["utility_unlearned"]), _fmt(r["utility_retrain"]),
                      _fmt(r["unlearn_seconds"], 3), _fmt(r["retrain_seconds"], 3),
                      _fmt(r["speedup"], 3),
                      _fmt_distance(r["distance_to_retrain"], r["distance_kind"]),
                      _fmt(r["fidelity_ratio"], 3), diagnostics_note(r))
    _console().print(table)
    for r in rows:
        for line in dict.fromkeys(r["warnings"]):
            _console(stderr=True).print(f"warning: {line}")


def _run_specs(specs: list[Any], executor: str, title: str,
               include_original: bool = False) -> list[dict[str, Any]]:
    from rich.progress import Progress

    from graphforget.bench.runner import run_bench

    with Progress(transient=True, console=_console(stderr=True)) as bar:
        task = bar.add_task("cells", total=len(specs))
        records = run_bench(specs, executor=executor,
                            progress=lambda done, total: bar.update(task, completed=done))
    _print_table(records, title, include_original)
    return records


def _shard_flags(args: argparse.Namespace, method: str) -> dict[str, Any]:
    """``--partition/--aggregator/--shards/--repair/--setting`` for the methods that take them."""
    from graphforget._registry import resolve_method

    try:
        names = set(resolve_method(method).param_names())
    except GraphForgetError:
        return {}
    flags = {k: getattr(args, k, None) for k in ("partition", "aggregator", "shards", "repair",
                                                  "setting")}
    unknown = [f"--{k}" for k, v in flags.items() if v is not None and k not in names]
    if unknown and not any(k in names for k in flags):
        raise GraphForgetError(f"{', '.join(unknown)} only apply to sharded methods "
                               f"(grapheraser, sisa), not {method!r}")
    return {k: v for k, v in flags.items() if v is not None and k in names}


def cmd_bench(args: argparse.Namespace) -> int:
    from graphforget.bench.runner import CellSpec, default_model_for, to_markdown, validate_spec, write_json
    from graphforget.bench.tasks import resolve_task

    task = resolve_task(args.task)
    dataset = args.dataset or task.default_dataset
    model = args.model or task.default_model
    specs = []
    params, split = dict(args.param), args.split
    if args.clients is not None:  # federated tasks: the method checks it, the split uses it
        params["clients"] = args.clients
        split = split or f"C{args.clients}"
    for method in args.method:
        cls = task.resolve_method(method)  # a registered name, or a task-specific variant
        # e.g. cgu -> sgc, sisa on tabular rows -> mlp, when no --model is given
        method_model = args.model or default_model_for(cls, task)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            spec = CellSpec(method=method, dataset=dataset, model=method_model, request=args.request,
                            ratio=args.ratio, seed=seed, task=task.name, root=args.root,
                            split=split, params={**params, **_shard_flags(args, method)},
                            profile=args.profile, noise_floor=args.noise_floor,
                            mia=args.mia, poison=args.poison, poison_ratio=args.poison_ratio)
            validate_spec(spec)
            specs.append(spec)
    records = _run_specs(specs, args.executor,
                         f"{dataset} · {model} · {args.request} {args.ratio:g} · {args.seeds} seed(s)")
    if args.json_out:
        write_json(records, args.json_out)
    if args.markdown_out:
        command = "graphforget " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        with open(args.markdown_out, "w") as f:
            f.write(to_markdown(records, command))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from graphforget._registry import method_names, resolve_method
    from graphforget.bench.runner import CellSpec
    from graphforget.unlearner import Task

    console = _console()
    chosen = args.method or method_names()
    specs = []
    params = {"epochs": 100} if args.dataset == "synthetic" else {}
    dataset = "synthetic:nodes=1000,homophily=0.7,signal=0.6" if args.dataset == "synthetic" else args.dataset
    for name in chosen:
        cls = resolve_method(name)
        if Task.NODE not in cls.tasks:
            continue
        model = args.model
        if cls.supported_models is not None and model not in cls.supported_models:
            model = cls.supported_models[0]
        for kind, ratio in (("edge", args.ratio), ("node", args.ratio)):
            from graphforget.requests import request_class

            if not cls.supports(request_class(kind)):
                continue
            p = {k: v for k, v in params.items() if k in cls.param_names()}
            p.update(getattr(cls, "demo_params", {}) or {})
            specs.append(CellSpec(method=cls.method_name, dataset=dataset, model=model,
                                  request=kind, ratio=ratio, seed=args.seed, root=args.root,
                                  params=p, share_reference=True))
    console.print(f"graphforget demo: {args.dataset}, forgetting {args.ratio:.0%} of the edges "
                  f"and {args.ratio:.0%} of the training nodes, {len(specs)} cells")
    _run_specs(specs, "serial", f"demo · {args.dataset} · {args.model}", include_original=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from graphforget._registry import method_names, resolve_method
    from graphforget.bench.tasks import task_names
    from graphforget.data import dataset_names
    from graphforget.models import model_names

    console = _console()
    console.print("methods:")
    for name in method_names():
        cls = resolve_method(name)
        kinds = ", ".join(r.kind for r in cls.supported_requests)
        tasks = ", ".join(t.value for t in cls.tasks)
        console.print(f"  {name:<24} {cls.guarantee.value:<12} tasks: {tasks}; requests: {kinds}")
    console.print("datasets: " + ", ".join(dataset_names()))
    console.print("models:   " + ", ".join(model_names()))
    console.print("tasks:    " + ", ".join(task_names()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from graphforget._registry import discover

    try:
        discover()
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse already printed its one-line message
            return int(exc.code or 0)
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "list":
            return cmd_list(args)
        return int(EXTRA_COMMANDS[args.command][1](args) or 0)
    except (GraphForgetError, ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"graphforget: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphforget: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
