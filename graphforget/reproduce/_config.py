"""Table configs: load ``benchmarks/tables/*.yaml`` and validate them.

A config is one reproduced table: the protocol that produces our numbers, the paper's
numbers (``reference``) with their citation, a ``quick`` reduced protocol and an
estimated run time. Every mistake in a config (an unknown key, a bad value) raises a
:class:`~graphforget.errors.GraphForgetError` whose message is one line naming the file
and the key.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphforget.errors import GraphForgetError

__all__ = ["TableConfig", "MethodEntry", "Reference", "tables_dir", "table_names", "load_table",
           "load_all", "TABLES_ENV"]

#: environment variable that overrides where table configs are read from
TABLES_ENV = "GRAPHFORGET_TABLES"

TOP_KEYS = {"name", "title", "kind", "citation", "protocol", "reference", "quick",
            "estimated_minutes", "notes", "partition_study"}
PROTOCOL_KEYS = {"task", "datasets", "split", "model", "request", "ratio", "seeds", "dataset_seeds", "first_seed",
                 "params", "metric", "scale", "methods", "removals", "every", "batch", "mia", "profile",
                 "poison", "poison_ratio", "columns", "noise_floor", "share_reference"}
QUICK_KEYS = {"description", "datasets", "split", "ratio", "seeds", "params", "methods",
              "method_params", "removals", "every", "batch", "partition_study"}
METHOD_KEYS = {"name", "method", "model", "params", "request", "ratio", "mia", "profile", "poison", "grid",
               "datasets"}
#: cell options a protocol sets for every method and a method entry (or its grid) may override;
#: they are the ``graphforget bench`` flags ``--mia``, ``--profile``, ``--poison``
CELL_OPTIONS = ("mia", "profile", "poison")
#: grid keys that set a method entry's field rather than one of its parameters
GRID_FIELDS = ("model", "request", "ratio") + CELL_OPTIONS
REFERENCE_KEYS = {"method", "dataset", "metric", "mean", "std", "tolerance", "relative_to", "not_comparable",
                  "higher_is_better", "table", "column", "source", "note", "paper"}
RELATIVE_KEYS = {"method", "metric", "op"}
CITATION_KEYS = {"paper", "url", "table", "column", "source", "note"}
SOURCES = ("paper", "abstract", "figure", "text", "code")
KINDS = ("cells", "sequential")
OPS = ("minus", "speedup", "ratio")
PARTITION_KEYS = {"partitioners", "shards", "datasets", "nodes"}
PARTITIONER_KEYS = {"name", "partitioner", "params"}
MIA_ATTACKS = ("loss", "posterior", "shadow")
POISONS = ("edge", "label")


def _err(where: str, message: str) -> GraphForgetError:
    return GraphForgetError(f"{where}: {message}")


def _check_keys(obj: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _err(where, f"expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _err(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    return obj


def _number(value: Any, where: str, *, positive: bool = False, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(float(value)):
        raise _err(where, f"expected a number, got {value!r}")
    if positive and value <= 0:
        raise _err(where, f"expected a positive number, got {value!r}")
    return float(value)


def _int(value: Any, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _err(where, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _err(where, f"expected a non-empty list of names, got {value!r}")
    return list(value)


@dataclass
class MethodEntry:
    """One row of a table: a registered method under a label, with its parameters."""

    name: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    request: str | None = None
    ratio: float | None = None
    #: cell options (None: the protocol's): membership attack, cost profile, poison kind
    mia: str | None = None
    profile: bool | None = None
    poison: str | None = None
    #: the entry's ``name`` before a ``grid`` expanded it (quick blocks may name it)
    group: str | None = None
    #: the protocol's datasets this entry runs on (None: all of them), e.g. where a method
    #: does not fit the machine on one dataset
    datasets: list[str] | None = None


@dataclass
class Reference:
    """A number from a paper, with where it was found."""

    method: str
    dataset: str
    metric: str
    mean: float | None
    std: float | None = None
    tolerance: float | None = None
    relative_to: dict[str, str] | None = None
    higher_is_better: bool | None = None
    citation: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    #: why our protocol, dataset or metric differs from the paper's number: the cell then
    #: shows the number beside ours with the verdict ``not comparable`` and this reason
    not_comparable: str | None = None


@dataclass
class TableConfig:
    """A validated table config (see ``docs/reproduce.md`` for every key)."""

    name: str
    title: str
    path: str
    kind: str
    citation: dict[str, Any]
    protocol: dict[str, Any]
    methods: list[MethodEntry]
    references: list[Reference]
    quick: dict[str, Any]
    estimated_minutes: dict[str, float]
    notes: str = ""
    partition_study: dict[str, Any] | None = None

    def effective(self, quick: bool = False) -> TableConfig:
        """This config with the ``quick`` block applied (a new object when ``quick``)."""
        if not quick:
            return self
        out = copy.deepcopy(self)
        q = self.quick
        for key in ("datasets", "split", "ratio", "seeds", "removals", "every", "batch"):
            if key in q:
                out.protocol[key] = q[key]
        if "seeds" in q:
            out.protocol.pop("dataset_seeds", None)  # the quick protocol's seeds hold everywhere
        if "params" in q:
            out.protocol["params"] = {**out.protocol.get("params", {}), **q["params"]}
        if "methods" in q:
            keep = set(q["methods"])
            out.methods = [m for m in out.methods if m.name in keep or m.group in keep]
        for m in out.methods:
            overrides = q.get("method_params", {})
            m.params.update(overrides.get(m.group, {}) if m.group else {})
            m.params.update(overrides.get(m.name, {}))
        if "partition_study" in q and out.partition_study is not None:
            out.partition_study = {**out.partition_study, **q["partition_study"]}
        return out

    def seeds_for(self, dataset: str) -> range:
        """The seeds run on ``dataset``: ``first_seed`` on, ``dataset_seeds[dataset]`` of
        them where given, else ``seeds``."""
        p = self.protocol
        n = int(p.get("dataset_seeds", {}).get(dataset, p["seeds"]))
        return range(int(p["first_seed"]), int(p["first_seed"]) + n)

    def labels(self) -> set[str]:
        """Every method label and grid group name a quick block may select."""
        return {m.name for m in self.methods} | {m.group for m in self.methods if m.group}

    def reference_for(self, method: str, dataset: str) -> list[Reference]:
        return [r for r in self.references if r.method == method and r.dataset == dataset]


def _cell_options(item: dict[str, Any], where: str) -> dict[str, Any]:
    """Validates the ``mia``/``profile``/``poison`` options of a protocol or method entry."""
    mia, profile, poison = item.get("mia"), item.get("profile"), item.get("poison")
    if mia is not None and mia not in MIA_ATTACKS:
        raise _err(f"{where}.mia", f"expected one of {', '.join(MIA_ATTACKS)}, got {mia!r}")
    if profile is not None and not isinstance(profile, bool):
        raise _err(f"{where}.profile", f"expected true or false, got {profile!r}")
    if poison is not None and poison not in POISONS:
        raise _err(f"{where}.poison", f"expected one of {', '.join(POISONS)}, got {poison!r}")
    return {"mia": mia, "profile": profile, "poison": poison}


def _grid(item: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """``(label suffix, item with one grid point applied)`` per point of the entry's ``grid``:
    the product of its lists, in order; a list of such mappings is the union of their
    products. ``[("", item)]`` without a grid."""
    grid = item.get("grid")
    if grid is None:
        return [("", item)]
    blocks = grid if isinstance(grid, list) else [grid]
    out = []
    for b, block in enumerate(blocks):
        w = f"{where}.grid" + (f"[{b}]" if isinstance(grid, list) else "")
        if not isinstance(block, dict) or not block:
            raise _err(w, f"expected a mapping of key -> list of values, got {block!r}")
        for key, values in block.items():
            if not isinstance(values, list) or not values:
                raise _err(f"{w}.{key}", f"expected a non-empty list of values, got {values!r}")
        for point in itertools.product(*block.values()):
            new = {k: v for k, v in item.items() if k != "grid"}
            new["params"] = dict(item.get("params") or {})
            for key, value in zip(block, point, strict=True):
                if key in GRID_FIELDS:
                    new[key] = value
                else:
                    new["params"][key] = value
            out.append(("-".join(str(v) for v in point), new))
    return out


def _method_entries(raw: Any, where: str, allow_empty: bool = False) -> list[MethodEntry]:
    if allow_empty and raw in (None, []):
        return []
    if not isinstance(raw, list) or not raw:
        raise _err(where, "expected a non-empty list of methods")
    out, seen = [], set()
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        if isinstance(item, str):
            item = {"method": item}
        _check_keys(item, METHOD_KEYS, w)
        if not isinstance(item.get("method"), str):
            raise _err(w, "needs 'method' (a registered method name)")
        base = item.get("name", item["method"])
        if not isinstance(base, str):
            raise _err(w, f"method label {base!r} is not a name")
        for suffix, point in _grid(item, w):
            name = f"{base}-{suffix}" if suffix else base
            if name in seen:
                raise _err(w, f"method label {name!r} is used twice")
            seen.add(name)
            params = point.get("params", {}) or {}
            if not isinstance(params, dict):
                raise _err(f"{w}.params", f"expected a mapping, got {params!r}")
            ratio = point.get("ratio")
            if ratio is not None and not (0 < _number(ratio, f"{w}.ratio") < 1):
                raise _err(f"{w}.ratio", f"must lie in (0, 1), got {ratio!r}")
            only = _str_list(item["datasets"], f"{w}.datasets") if "datasets" in item else None
            out.append(MethodEntry(name=name, method=point["method"], params=dict(params),
                                   model=point.get("model"), request=point.get("request"), ratio=ratio,
                                   group=base if suffix else None, datasets=only,
                                   **_cell_options(point, w)))
    return out


def _validate_protocol(p: Any, where: str, kind: str) -> dict[str, Any]:
    _check_keys(p, PROTOCOL_KEYS, where)
    for key in ("task", "datasets", "methods"):
        if key not in p:
            raise _err(where, f"missing required key {key!r}")
    p = dict(p)
    p["datasets"] = _str_list(p["datasets"], f"{where}.datasets")
    p.setdefault("request", "node")
    p.setdefault("seeds", 1)
    p.setdefault("first_seed", 0)
    p.setdefault("params", {})
    p.setdefault("metric", "utility_unlearned")
    p.setdefault("scale", 1.0)
    # extra record fields shown per method and dataset (dotted names read nested fields)
    p["columns"] = _str_list(p["columns"], f"{where}.columns") if "columns" in p else []
    p.update(_cell_options(p, where))
    p.setdefault("poison_ratio", 0.1)
    if not 0 < _number(p["poison_ratio"], f"{where}.poison_ratio") < 1:
        raise _err(f"{where}.poison_ratio", f"must lie in (0, 1), got {p['poison_ratio']!r}")
    _int(p["seeds"], f"{where}.seeds")
    _int(p["first_seed"], f"{where}.first_seed", minimum=0)
    if "dataset_seeds" in p:  # fewer (or more) seeds on some datasets, e.g. an expensive one
        ds = p["dataset_seeds"]
        if not isinstance(ds, dict) or not ds:
            raise _err(f"{where}.dataset_seeds", f"expected a mapping of dataset -> seeds, got {ds!r}")
        for name, n in ds.items():
            if name not in p["datasets"]:
                raise _err(f"{where}.dataset_seeds", f"{name!r} is not one of the protocol's datasets")
            _int(n, f"{where}.dataset_seeds.{name}")
    _number(p["scale"], f"{where}.scale", positive=True)
    if not isinstance(p["params"], dict):
        raise _err(f"{where}.params", f"expected a mapping, got {p['params']!r}")
    if kind == "cells" and p["methods"] in (None, []):  # a partition study alone: no request
        pass
    elif kind == "cells":
        if "ratio" not in p:
            raise _err(where, "missing required key 'ratio'")
        if not 0 < _number(p["ratio"], f"{where}.ratio") < 1:
            raise _err(f"{where}.ratio", f"must lie in (0, 1), got {p['ratio']!r}")
    else:
        for key in CELL_OPTIONS:
            if p.get(key):
                raise _err(f"{where}.{key}", "applies to cells tables only, not sequential ones")
        for key in ("removals", "every"):
            if key not in p:
                raise _err(where, f"a sequential table needs {key!r}")
        _int(p["removals"], f"{where}.removals")
        _int(p["every"], f"{where}.every")
        p.setdefault("batch", 1)
        _int(p["batch"], f"{where}.batch")
    return p


def _validate_quick(q: Any, where: str, methods: list[MethodEntry]) -> dict[str, Any]:
    labels = {m.name for m in methods} | {m.group for m in methods if m.group}
    _check_keys(q, QUICK_KEYS, where)
    if not isinstance(q.get("description"), str) or not q["description"].strip():
        raise _err(where, "needs 'description': say what the reduced protocol changes")
    if "datasets" in q:
        q["datasets"] = _str_list(q["datasets"], f"{where}.datasets")
    for key in ("seeds", "removals", "every", "batch"):
        if key in q:
            _int(q[key], f"{where}.{key}")
    if "ratio" in q and not 0 < _number(q["ratio"], f"{where}.ratio") < 1:
        raise _err(f"{where}.ratio", f"must lie in (0, 1), got {q['ratio']!r}")
    if "params" in q and not isinstance(q["params"], dict):
        raise _err(f"{where}.params", f"expected a mapping, got {q['params']!r}")
    if "methods" in q:
        for m in _str_list(q["methods"], f"{where}.methods"):
            if m not in labels:
                raise _err(f"{where}.methods", f"{m!r} is not a method label of the protocol")
    mp = q.get("method_params", {})
    if not isinstance(mp, dict):
        raise _err(f"{where}.method_params", "expected a mapping of method label -> params")
    for label, params in mp.items():
        if label not in labels:
            raise _err(f"{where}.method_params", f"{label!r} is not a method label of the protocol")
        if not isinstance(params, dict):
            raise _err(f"{where}.method_params.{label}", f"expected a mapping, got {params!r}")
    return dict(q)


def _validate_references(raw: Any, where: str, citation: dict[str, Any], metric: str,
                         labels: set[str]) -> list[Reference]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise _err(where, "expected a list of reference numbers")
    out = []
    for i, r in enumerate(raw):
        w = f"{where}[{i}]"
        _check_keys(r, REFERENCE_KEYS, w)
        for key in ("method", "dataset"):
            if not isinstance(r.get(key), str):
                raise _err(w, f"needs {key!r}")
        if r["method"] not in labels:
            raise _err(f"{w}.method", f"{r['method']!r} is not a method label of the protocol "
                                      f"({', '.join(sorted(labels))})")
        if "mean" not in r:
            raise _err(w, "needs 'mean' (null when the paper gives no number)")
        mean = _number(r["mean"], f"{w}.mean", allow_none=True)
        std = _number(r.get("std"), f"{w}.std", allow_none=True)
        tol = _number(r.get("tolerance"), f"{w}.tolerance", allow_none=True)
        if (std is not None and std < 0) or (tol is not None and tol < 0):
            raise _err(w, "std and tolerance must be >= 0")
        rel = r.get("relative_to")
        if rel is not None:
            _check_keys(rel, RELATIVE_KEYS, f"{w}.relative_to")
            if rel.get("method") not in labels:
                raise _err(f"{w}.relative_to.method", f"{rel.get('method')!r} is not a method label")
            if rel.get("op", "minus") not in OPS:
                raise _err(f"{w}.relative_to.op", f"expected one of {', '.join(OPS)}, got {rel.get('op')!r}")
            rel = {"method": rel["method"], "metric": str(rel.get("metric", r.get("metric", metric))),
                   "op": rel.get("op", "minus")}
        hib = r.get("higher_is_better")
        if hib is not None and not isinstance(hib, bool):
            raise _err(f"{w}.higher_is_better", f"expected true or false, got {hib!r}")
        reason = r.get("not_comparable")
        if reason is not None and (not isinstance(reason, str) or not reason.strip()):
            raise _err(f"{w}.not_comparable", "expected the reason (a non-empty string) why the "
                                              f"number is not comparable, got {reason!r}")
        cite = dict(citation)
        for key in ("paper", "table", "column", "source"):
            if key in r:
                cite[key] = r[key]
        if cite.get("source", "paper") not in SOURCES:
            raise _err(f"{w}.source", f"expected one of {', '.join(SOURCES)}, got {cite.get('source')!r}")
        out.append(Reference(method=r["method"], dataset=r["dataset"], metric=str(r.get("metric", metric)),
                             mean=mean, std=std, tolerance=tol, relative_to=rel, higher_is_better=hib,
                             citation=cite, note=str(r.get("note", "")),
                             not_comparable=reason.strip() if reason else None))
    return out


def _partitioners(raw: Any, where: str) -> list[dict[str, Any]]:
    """``partition_study.partitioners``: names, or ``{name: label, partitioner, params}`` for
    a partitioner with keyword arguments (e.g. ``{partitioner: guide, params: {method: sr}}``)."""
    if not isinstance(raw, list) or not raw:
        raise _err(where, f"expected a non-empty list of partitioners, got {raw!r}")
    out, seen = [], set()
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        if isinstance(item, str):
            item = {"partitioner": item}
        _check_keys(item, PARTITIONER_KEYS, w)
        if not isinstance(item.get("partitioner"), str):
            raise _err(w, "needs 'partitioner' (a registered partitioner name)")
        label = item.get("name", item["partitioner"])
        if not isinstance(label, str) or label in seen:
            raise _err(w, f"partitioner label {label!r} is missing or used twice")
        seen.add(label)
        params = item.get("params") or {}
        if not isinstance(params, dict):
            raise _err(f"{w}.params", f"expected a mapping, got {params!r}")
        out.append({"name": label, "partitioner": item["partitioner"], "params": dict(params)})
    return out


def validate(raw: Any, path: str | Path) -> TableConfig:
    """Validates a parsed YAML document; returns the :class:`TableConfig`."""
    where = Path(path).name
    _check_keys(raw, TOP_KEYS, where)
    for key in ("name", "title", "citation", "protocol", "quick", "estimated_minutes"):
        if key not in raw:
            raise _err(where, f"missing required key {key!r}")
    name = raw["name"]
    if not isinstance(name, str) or name != Path(path).stem:
        raise _err(where, f"'name' must equal the file name stem {Path(path).stem!r}, got {name!r}")
    kind = raw.get("kind", "cells")
    if kind not in KINDS:
        raise _err(f"{where}.kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    citation = dict(_check_keys(raw["citation"], CITATION_KEYS, f"{where}.citation"))
    if not isinstance(citation.get("paper"), str):
        raise _err(f"{where}.citation", "needs 'paper'")
    citation.setdefault("source", "paper")
    if citation["source"] not in SOURCES:
        raise _err(f"{where}.citation.source", f"expected one of {', '.join(SOURCES)}, got {citation['source']!r}")
    study = raw.get("partition_study")
    protocol = _validate_protocol(raw["protocol"], f"{where}.protocol", kind)
    # a table may be a partition study alone (no unlearning cells): then methods may be empty
    methods = _method_entries(protocol.pop("methods"), f"{where}.protocol.methods",
                              allow_empty=study is not None)
    for m in methods:
        unknown = sorted(set(m.datasets or ()) - set(protocol["datasets"]))
        if unknown:
            raise _err(f"{where}.protocol.methods", f"{m.name}: dataset {unknown[0]!r} is not one of the "
                                                     "protocol's datasets")
    labels = {m.name for m in methods}
    references = _validate_references(raw.get("reference"), f"{where}.reference", citation,
                                      protocol["metric"], labels)
    quick = _validate_quick(raw["quick"], f"{where}.quick", methods)
    est = _check_keys(raw["estimated_minutes"], {"full", "quick"}, f"{where}.estimated_minutes")
    for key in ("full", "quick"):
        if key not in est:
            raise _err(f"{where}.estimated_minutes", f"missing {key!r}")
        _number(est[key], f"{where}.estimated_minutes.{key}", positive=True)
    if study is not None:
        _check_keys(study, PARTITION_KEYS, f"{where}.partition_study")
        study = dict(study)
        study["partitioners"] = _partitioners(study.get("partitioners"), f"{where}.partition_study.partitioners")
        _int(study.get("shards", 0), f"{where}.partition_study.shards")
    if "partition_study" in quick:
        _check_keys(quick["partition_study"], PARTITION_KEYS, f"{where}.quick.partition_study")
        if "partitioners" in quick["partition_study"]:
            quick["partition_study"] = {**quick["partition_study"], "partitioners": _partitioners(
                quick["partition_study"]["partitioners"], f"{where}.quick.partition_study.partitioners")}
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise _err(f"{where}.notes", "expected text")
    return TableConfig(name=name, title=str(raw["title"]), path=str(path), kind=kind,
                       citation=citation, protocol=protocol, methods=methods,
                       references=references, quick=quick,
                       estimated_minutes={k: float(v) for k, v in est.items()},
                       notes=notes.strip(), partition_study=dict(study) if study else None)


def source_tables_dir() -> Path | None:
    """The source tree's ``benchmarks/tables`` when graphforget runs from a checkout
    (an editable install), else ``None``."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "tables"
    return path if path.is_dir() else None


def tables_dir(override: str | os.PathLike | None = None) -> Path:
    """Where table configs live: ``override``, else ``$GRAPHFORGET_TABLES``, else the
    source tree's ``benchmarks/tables`` (a checkout), else the copy shipped in the
    package (``graphforget/reproduce/tables``, put there when a wheel is built)."""
    if override:
        path = Path(override)
    elif os.environ.get(TABLES_ENV):
        path = Path(os.environ[TABLES_ENV])
    else:
        path = source_tables_dir() or Path(__file__).resolve().parent / "tables"
    if not path.is_dir():
        raise GraphForgetError(f"no table directory at {str(path)!r}; pass --tables DIR or set "
                               f"${TABLES_ENV}")
    return path


def table_names(directory: str | os.PathLike | None = None) -> list[str]:
    return sorted(p.stem for p in tables_dir(directory).glob("*.yaml"))


def _read(path: Path) -> Any:
    import yaml

    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        at = f" (line {line + 1})" if line is not None else ""
        raise GraphForgetError(f"{path.name}: not valid YAML{at}: "
                               f"{getattr(exc, 'problem', None) or exc}") from None


def load_table(name: str, directory: str | os.PathLike | None = None) -> TableConfig:
    """Loads and validates ``<tables>/<name>.yaml`` (``name`` may also be a path)."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        path = candidate
    else:
        root = tables_dir(directory)
        path = root / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(table_names(directory)) or "none"
            raise GraphForgetError(f"unknown table {name!r}; known tables: {known}")
    return validate(_read(path), path)


def load_all(directory: str | os.PathLike | None = None) -> list[TableConfig]:
    return [load_table(n, directory) for n in table_names(directory)]
