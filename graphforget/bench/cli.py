"""The ``graphforget`` command line: ``demo``, ``bench`` and ``list``.

Errors in user input end in one line on stderr (``graphforget: error: ...``) and exit
status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from graphforget.errors import GraphForgetError

__all__ = ["main", "build_parser"]

# Sub-command hooks other modules add (name -> (configure(parser), run(args))).
EXTRA_COMMANDS: dict[str, tuple[Any, Any]] = {}

# Sub-commands served by other modules of the package: (module that registers the hook in
# EXTRA_COMMANDS on import, one-line help). The module is imported only when its command
# runs, so `graphforget --help` and `graphforget list` start without torch_geometric.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "reproduce": ("graphforget.reproduce",
                  "rerun a paper table (benchmarks/tables/*.yaml) and write ours beside the paper's"),
    "stream": ("graphforget.stream",
               "serve N single-node deletions one by one, with a crash-safe ledger (resumable)"),
    "replay": ("graphforget.stream", "replay and verify a ledger written by `graphforget stream`"),
    "verify": ("graphforget.stream", "check a ledger's journal and checkpoints without changing anything"),
}

_DESCRIPTION = """Machine unlearning for PyTorch Geometric.

Start with `graphforget demo` (a small synthetic graph; about a minute on a laptop), then
`graphforget list` for the methods, datasets and tasks, and `graphforget bench` to compare
methods against retraining. `graphforget COMMAND --help` describes each command."""


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
    p.add_argument("--executor", default="serial",
                   help="serial (default); process: cells in worker processes; ray: cells here, "
                        "the shards of sharded methods (grapheraser, sisa, guide, receraser) as Ray tasks")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --executor ray: 'auto' joins the running cluster, HOST:PORT or "
                        "ray://HOST:10001 that one (default: start a local Ray)")
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
    p.add_argument("--pool", choices=("all", "in", "out"), default=None,
                   help="link task, edge requests: draw the deleted edges from all training edges "
                        "(default), from inside the 2-hop enclosing subgraph of the test edges (in) "
                        "or outside it (out), as GNNDelete; recorded as the pool field"),
    p.add_argument("--noise-floor", action="store_true",
                   help="fit a second retrain with another seed and add output_distance_retrain_to_retrain "
                        "(the noise floor of fidelity_ratio; one more retrain per cell)")
    p.add_argument("--json", dest="json_out", default=None, help="write records to this file")
    p.add_argument("--markdown", dest="markdown_out", default=None, help="write a Markdown table")


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The argument parser. ``command`` names the sub-command whose options are set up
    (``"*"``: every one, ``None``: none, only the list of commands with their help);
    the others get their help line, so that parsing needs only the chosen command's
    module."""
    parser = _Parser(prog="graphforget", description=_DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                metavar="COMMAND")

    def wanted(name: str) -> bool:
        return command == "*" or command == name

    demo = sub.add_parser("demo", help="train, forget 5%% of edges and nodes, compare methods "
                                       "against retraining (synthetic graph: ~1 min)")
    if wanted("demo"):
        demo.add_argument("--dataset", default="synthetic", help="synthetic (default), karate, cora, ...")
        demo.add_argument("--root", default=None, help="data root (default $GRAPHFORGET_DATA)")
        demo.add_argument("--model", default="gcn", help="backbone (default gcn)")
        demo.add_argument("--ratio", type=_ratio, default=0.05, help="fraction forgotten (default 0.05)")
        demo.add_argument("--seed", type=int, default=0, help="seed (default 0)")
        demo.add_argument("--method", action="append", default=None, help="restrict to these methods")
    bench = sub.add_parser("bench", help="benchmark methods against retraining (JSON/Markdown records)")
    if wanted("bench"):
        _add_bench_args(bench)
    sub.add_parser("list", help="list methods, datasets, models and tasks")
    names = list(LAZY_COMMANDS) + [n for n in EXTRA_COMMANDS if n not in LAZY_COMMANDS]
    for name in names:
        if name in LAZY_COMMANDS and wanted(name) and name not in EXTRA_COMMANDS:
            importlib.import_module(LAZY_COMMANDS[name][0])  # registers the hook
        help_text = LAZY_COMMANDS[name][1] if name in LAZY_COMMANDS else None
        sp = sub.add_parser(name, help=help_text)
        if wanted(name) and name in EXTRA_COMMANDS:
            EXTRA_COMMANDS[name][0](sp)
    return parser


def _console(stderr: bool = False, width: int | None = None) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if width is not None:
        console = Console(stderr=stderr, highlight=False, width=min(width, console.width)
                          if console.is_terminal else width)
    elif not console.is_terminal:  # piped output: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, highlight=False, width=160)
    return console


def _demo_threads() -> int:
    """Torch threads for the demo: the cores not already busy (load average), at least
    one; an explicit ``OMP_NUM_THREADS`` wins."""
    import os

    import torch

    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    cores = os.cpu_count() or 1
    try:
        busy = round(os.getloadavg()[0])
    except OSError:
        busy = 0
    threads = max(1, min(torch.get_num_threads(), cores - busy))
    torch.set_num_threads(threads)
    return threads


#: the demo's legend (printed under its table)
DEMO_LEGEND = """\
original = no unlearning: the reference backbone before forgetting.
orig. / unl. / retr.: micro-F1 (accuracy) on the test nodes, from 0 to 1.
  orig. = the method's own model before forgetting; it differs between rows
          because each method trains its own model (cgu an SGC, grapheraser
          an ensemble of shard models, ...)
  unl.  = the same model after forgetting
  retr. = retrained from scratch on the retained data (the exact reference)
unl. s / retr. s: wall-clock seconds of the unlearning call / of retraining.
×: speed-up, retr. s / unl. s. * = from one timing each (one seed; one
  retraining per request kind, shared by all rows): an order of magnitude.
dist.: distance to the retrained model, lower is closer. KL = KL divergence
  of the predicted class distributions (mean over nodes); unmarked = L2
  distance between the parameter vectors."""


def _print_table(records: Sequence[dict[str, Any]], title: str, include_original: bool = False,
                 legend: str | None = None, single_timing: bool = False) -> None:
    from rich.table import Table

    from graphforget.bench.runner import _fmt, _fmt_distance, diagnostics_note, summarize

    def short(value: float, decimals: int | None = None) -> str:
        """At most 6 characters (the demo's 80 columns): no spread, no long exponents."""
        x = float(value[0] if isinstance(value, tuple) else value)
        if x != x:
            return "n/a"
        if decimals is not None:
            return f"{x:.{decimals}f}"
        if x == 0 or 1e-3 <= abs(x) < 10:
            return f"{x:.2g}"
        if abs(x) >= 10:
            return f"{x:.0f}" if abs(x) < 1e6 else f"{x:.0e}".replace("e+0", "e")
        return f"{x:.0e}".replace("e-0", "e-")

    def speed(pair: tuple[float, float]) -> str:
        text = short(pair)
        return text + "*" if single_timing and text != "n/a" else text

    def dist(pair: tuple[float, float], kind: str | None) -> str:
        if not legend:
            return _fmt_distance(pair, kind)
        return short(pair) + (" KL" if kind == "output_kl" else "")

    def util(pair: tuple[float, float]) -> str:
        return short(pair, 3) if legend else _fmt(pair, 4)

    def secs(pair: tuple[float, float]) -> str:
        return short(pair) if legend else _fmt(pair, 3)

    compact = legend is not None  # the demo: fits 80 columns
    if compact:
        from rich import box

        table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                      padding=(0, 1), collapse_padding=True)
    else:
        table = Table(title=title)
    cols = (("method", "req.", "orig.", "unl.", "retr.", "unl. s", "retr. s", "×",
             "dist.") if compact else
            ("method", "request", "utility orig.", "utility unlearned", "utility retrain",
             "unlearn s", "retrain s", "speed-up", "dist. to retrain", "fidelity", "notes"))
    for i, col in enumerate(cols):
        table.add_column(col, justify="left" if i < 2 else "right", no_wrap=compact,
                         max_width=14 if compact and i == 0 else None)
    rows = summarize(records)
    if include_original:
        seen = set()
        # the plain reference's record carries the original backbone (not, say, CGU's SGC)
        ordered = sorted(records, key=lambda r: r["method"] != "retrain")
        for r in ordered:
            if r["request"] in seen:
                continue
            seen.add(r["request"])
            table.add_row("original" if compact else "original (no unlearning)", r["request"],
                          util((r["utility_original"], 0)),
                          util((r["utility_original"], 0)), util((r["utility_retrain"], 0)),
                          "0", secs((r["retrain_seconds"], 0)), "-",
                          dist((r["distance_original_to_retrain"], 0), r.get("distance_kind")),
                          *(() if compact else ("1", "-")))
    for r in rows:
        table.add_row(r["method"], r["request"], util(r["utility_original"]),
                      util(r["utility_unlearned"]), util(r["utility_retrain"]),
                      secs(r["unlearn_seconds"]), secs(r["retrain_seconds"]),
                      speed(r["speedup"]) if compact else _fmt(r["speedup"], 3),
                      dist(r["distance_to_retrain"], r["distance_kind"]),
                      *(() if compact else (_fmt(r["fidelity_ratio"], 3), diagnostics_note(r))))
    console = _console(width=80) if compact else _console()
    console.print(table)
    for r in rows:
        for line in dict.fromkeys(r["warnings"]):
            _console(stderr=True).print(f"warning: {line}")
    if legend:
        print(legend, flush=True)  # already wrapped at 80 columns


def _run_specs(specs: list[Any], executor: str, title: str,
               include_original: bool = False, legend: str | None = None,
               single_timing: bool = False, executor_kwargs: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    import time

    from rich.progress import Progress

    from graphforget.bench.runner import run_bench

    err = _console(stderr=True)
    start = time.perf_counter()
    if err.is_terminal:
        with Progress(transient=True, console=err) as bar:
            task = bar.add_task("cells", total=len(specs))
            records = run_bench(specs, executor=executor, executor_kwargs=executor_kwargs,
                                progress=lambda done, total: bar.update(task, completed=done))
    else:  # piped or logged: one plain line per finished cell, so a long run shows life
        def line(done: int, total: int) -> None:
            spec = specs[done - 1] if executor == "serial" and 0 < done <= len(specs) else None
            what = f" ({spec.method}, {spec.request})" if spec is not None else ""
            print(f"graphforget: cell {done}/{total} done{what}, {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)

        records = run_bench(specs, executor=executor, executor_kwargs=executor_kwargs, progress=line)
    _print_table(records, title, include_original, legend=legend, single_timing=single_timing)
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
    from graphforget._registry import normalize
    from graphforget.bench._paths import atomic_write_text
    from graphforget.bench.runner import CellSpec, default_model_for, to_markdown, validate_spec
    from graphforget.bench.tasks import resolve_task

    executor_kwargs = None
    if args.ray_address is not None:
        if normalize(args.executor) != "ray":
            raise GraphForgetError(f"--ray-address needs --executor ray, not {args.executor!r}")
        executor_kwargs = {"address": args.ray_address}
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
                            mia=args.mia, poison=args.poison, poison_ratio=args.poison_ratio,
                            pool=args.pool)
            validate_spec(spec)
            specs.append(spec)
    records = _run_specs(specs, args.executor,
                         f"{dataset} · {model} · {args.request} {args.ratio:g} · {args.seeds} seed(s)",
                         executor_kwargs=executor_kwargs)
    if args.json_out:  # checked before the run (main); written atomically
        atomic_write_text(args.json_out, json.dumps(list(records), indent=2, default=str))
    if args.markdown_out:
        command = "graphforget " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        atomic_write_text(args.markdown_out, to_markdown(records, command))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from graphforget._registry import method_names, resolve_method
    from graphforget.bench.runner import CellSpec
    from graphforget.data._datasets import dataset_info
    from graphforget.unlearner import Task

    dataset_info(args.dataset)  # a bad name fails before the header
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

            if not cls.supports(request_class(kind), task="node"):
                continue
            p = {k: v for k, v in params.items() if k in cls.param_names()}
            p.update(getattr(cls, "demo_params", {}) or {})
            specs.append(CellSpec(method=cls.method_name, dataset=dataset, model=model,
                                  request=kind, ratio=ratio, seed=args.seed, root=args.root,
                                  params=p, share_reference=True))
    threads = _demo_threads()
    import textwrap

    print(textwrap.fill(f"graphforget demo: {args.dataset}, forgetting {args.ratio:.0%} of the edges "
                        f"and {args.ratio:.0%} of the training nodes; {len(specs)} cells, "
                        f"{threads} torch thread(s)", width=80), flush=True)
    _run_specs(specs, "serial", f"demo · {args.dataset} · {args.model}", include_original=True,
               legend=DEMO_LEGEND, single_timing=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from graphforget._index import listing

    out = listing()
    lines = ["methods:"]
    for m in out["methods"]:
        only = "".join(f" ({task}: {', '.join(kinds)})" for task, kinds in m.get("task_requests", {}).items())
        lines.append(f"  {m['name']:<24} {m['guarantee']:<12} tasks: {', '.join(m['tasks'])}; "
                     f"requests: {', '.join(m['requests'])}{only}")
    lines.append("datasets: " + ", ".join(out["datasets"]))
    lines.append("models:   " + ", ".join(out["models"]))
    lines.append("tasks:    " + ", ".join(out["tasks"]))
    print("\n".join(lines))
    return 0


_BUILTIN = ("demo", "bench", "list")


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option)."""
    for token in argv:
        if not token.startswith("-"):
            return token
    return None


def _check_outputs(args: argparse.Namespace) -> None:
    """Every output path of the command, checked before any computation."""
    from graphforget.bench._paths import check_output_dir, check_output_file

    for attr, flag in (("json_out", "--json"), ("markdown_out", "--markdown")):
        if getattr(args, attr, None):
            check_output_file(getattr(args, attr), flag)
    if args.command == "stream" and getattr(args, "ledger", None):
        check_output_dir(args.ledger, "--ledger")
    if args.command == "reproduce" and getattr(args, "out", None) and not getattr(args, "list", False):
        check_output_dir(args.out, "--out")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # bare `graphforget`: the usage and the commands, not an error line
        build_parser(None).print_help(sys.stderr)
        return 2
    try:
        command = _command_of(argv)
        if command is not None and command not in _BUILTIN and command not in LAZY_COMMANDS \
                and command not in EXTRA_COMMANDS:
            from graphforget._registry import discover

            discover()  # a command registered by another module of the package
        known = set(_BUILTIN) | set(LAZY_COMMANDS) | set(EXTRA_COMMANDS)
        parser = build_parser(command if command in known else None)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse already printed its one-line message
            return int(exc.code or 0)
        _check_outputs(args)
        if args.command == "list":
            return cmd_list(args)
        from graphforget._registry import discover

        discover()
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "demo":
            return cmd_demo(args)
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
