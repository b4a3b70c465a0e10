"""The house: which part may import which, and no import circle anywhere.

Read from the source itself (every `import` and `from ... import`, also inside functions), so a
new arrow that runs the wrong way fails here before anyone has to draw it:

    core          <- everything (files, errors, preprocessing, interpreter: numpy and PIL only)
    device.hands  <- the tracker, features, classifier, fusion: core only
    device.web    <- the live view: core only
    device        <- the Pi's programs: core and its own sub-packages
    train         <- core and device (the tracker and features the device runs)
    convert       <- core, device and train
    deploy        <- core and device (the bundle it stages, the web token it checks)
    cli           <- core; the parts are loaded by name, each only when installed
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("core", "cli", "train", "convert", "device", "deploy")
#: part -> the parts it may import (besides itself)
ALLOWED = {
    "core": set(),
    "device.hands": {"core"},
    "device.web": {"core"},
    "device": {"core", "device.hands", "device.web"},
    "train": {"core", "device", "device.hands", "device.web"},
    "convert": {"core", "device", "device.hands", "device.web", "train"},
    "deploy": {"core", "device", "device.hands", "device.web"},
    "cli": {"core"},
}


def modules() -> dict:
    """{dotted name: file} of every production module."""
    found = {}
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            name = "edgesign." + ".".join(rel.parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports(found: dict) -> dict:
    """{module: the production modules it imports} (packages' __init__ files left out)."""
    graph = {}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(parts) + ("." + base if base else "")
                names = [f"{base}.{alias.name}" for alias in node.names]
                targets |= {n if n in found else base for n in names}
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        resolved = set()
        for target in targets:
            while target not in found and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in found and target != name and found[target].name != "__init__.py":
                resolved.add(target)
        graph[name] = resolved
    return graph


def part_of(module: str) -> str:
    parts = module.split(".")
    if parts[1] == "device" and len(parts) > 3 and parts[2] in ("hands", "web"):
        return f"device.{parts[2]}"
    return parts[1]


def circles(graph: dict) -> list:
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_anywhere():
    graph = imports(modules())
    assert len(graph) > 80  # the whole tree was read
    assert circles(graph) == []


def test_each_part_imports_only_the_parts_below_it():
    graph = imports(modules())
    wrong = sorted(
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if part_of(b) != part_of(a) and part_of(b) not in ALLOWED[part_of(a)]
    )
    assert wrong == []


def test_the_checks_see_a_circle_and_a_wrong_arrow():
    """The reader itself: a made-up circle is found, and device -> train is refused."""
    graph = {
        "edgesign.a": {"edgesign.b"},
        "edgesign.b": {"edgesign.c"},
        "edgesign.c": {"edgesign.a"},
    }
    assert circles(graph) == [["edgesign.a", "edgesign.b", "edgesign.c"]]
    real = imports(modules())
    assert "edgesign.core.errors" in real["edgesign.device.bundle"]
    assert "train" not in ALLOWED[part_of("edgesign.device.bundle")]
    assert part_of("edgesign.device.hands.tracker") == "device.hands"
