"""The layout rule of docs/developing.md, checked: every method is one module of its
guarantee family named after it, the family package exports it, old import paths still
work, and the package has no import circles."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import graphforget
from graphforget._moved import MOVED_MODULES
from graphforget._registry import _METHODS, discover, normalize
from graphforget.unlearner import Guarantee

PACKAGE = Path(graphforget.__file__).parent
FAMILY = {Guarantee.EXACT: "exact", Guarantee.CERTIFIED: "certified", Guarantee.APPROXIMATE: "approx"}
# Modules that hold more than one registered class, each a named exception: the per-task
# retrain references are one method ("retrain"), GIF and IF share one update.
SHARED_MODULES = {"graphforget.exact.retrain": "retrain", "graphforget.approx.gif": "gif"}


def _method_classes() -> dict[str, type]:
    discover()
    return {cls.method_name: cls for cls in set(_METHODS.values())}


@pytest.mark.parametrize("name", sorted(_method_classes()))
def test_method_lives_in_its_family_module_named_after_it(name: str) -> None:
    cls = _method_classes()[name]
    module = cls.__module__
    family = FAMILY[cls.guarantee]
    assert module.startswith(f"graphforget.{family}."), (name, module, cls.guarantee)
    stem = module.rsplit(".", 1)[1]
    expected = SHARED_MODULES.get(module, stem)
    assert normalize(stem) == normalize(expected)
    if module not in SHARED_MODULES:
        assert normalize(stem) == normalize(name), f"{name} lives in {module}"
    package = importlib.import_module(f"graphforget.{family}")
    assert getattr(package, cls.__name__) is cls


def test_every_module_of_a_family_is_exported_by_its_package() -> None:
    for family in ("exact", "certified", "approx"):
        package = importlib.import_module(f"graphforget.{family}")
        for path in (PACKAGE / family).glob("*.py"):
            if path.name == "__init__.py":
                continue
            tree = ast.parse(path.read_text())
            names = [e.value for node in tree.body if isinstance(node, ast.Assign)
                     and any(getattr(t, "id", None) == "__all__" for t in node.targets)
                     for e in node.value.elts]
            assert names, f"{path} declares no __all__"
            for name in names:
                assert getattr(package, name) is getattr(
                    importlib.import_module(f"graphforget.{family}.{path.stem}"), name)


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_moved_import_paths_give_the_same_objects(old: str) -> None:
    legacy = importlib.import_module(old)
    new = importlib.import_module(MOVED_MODULES[old])
    public = [k for k in vars(new) if not k.startswith("_") and isinstance(vars(new)[k], type)]
    assert public
    for name in public:
        assert getattr(legacy, name) is getattr(new, name)


def test_documented_task_reexports() -> None:
    from graphforget.recommendation.receraser import RecommendationRetrain  # old path
    from graphforget.vision.methods import SCRUB  # old path

    from graphforget.exact.dare import DaRE
    from graphforget.exact.retrain import FederatedRetrain, LinkRetrain, VisionRetrain
    from graphforget.general import DaRE as TabularDaRE

    assert TabularDaRE is DaRE
    assert graphforget.Retrain.method_name == "retrain"
    assert importlib.import_module("graphforget.link").LinkRetrain is LinkRetrain
    assert importlib.import_module("graphforget.vision").VisionRetrain is VisionRetrain
    assert importlib.import_module("graphforget.federated").FederatedRetrain is FederatedRetrain
    assert RecommendationRetrain.method_name == "recommendation-retrain"
    assert SCRUB.method_name == "scrub"


def _import_graph() -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("graphforget", *path.relative_to(PACKAGE).with_suffix("").parts))
        modules[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count too
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def test_no_import_circles() -> None:
    graph = _import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_api_docs_list_every_method_module() -> None:
    api = (PACKAGE.parent / "docs" / "api.md").read_text()
    for name, cls in _method_classes().items():
        assert f"| `{name}` | `{cls.__module__}` | `{cls.__name__}` |" in api, name
