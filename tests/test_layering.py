"""The layers import only downwards (docs/architecture.md): read from the source with ``ast``,
every import counted, also those inside functions.

- firmware/core is hardware-free: no ``machine``, ``bluetooth``, device layer or drivers;
- firmware/ (core, device, drivers) never imports host code or third-party packages;
- the host package imports nothing from tests/;
- the host's packages form no import cycle (e.g. analysis never imports the report).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "host" / "spasmtrack"
FIRMWARE = ROOT / "firmware"

#: What firmware may import besides its own packages (MicroPython's modules and the sim board's).
MICROPYTHON_MODULES = {
    "array", "asyncio", "binascii", "collections", "errno", "esp32", "gc", "io", "json", "machine",
    "math", "micropython", "os", "select", "struct", "sys", "time", "uctypes", "bluetooth", "coeffs",
    "flash_storage", "vfs", "network", "random", "re", "hashlib", "cryptolib", "deflate", "framebuf",
}
HARDWARE = {"machine", "bluetooth", "esp32", "network", "device", "drivers", "flash_storage"}


def imports(path: Path, package: str) -> Iterator[tuple[str, int]]:
    """(absolute module name, line) of every import in ``path``; ``package`` resolves
    relative imports (the dotted package the file belongs to)."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import name` may name a submodule: count it as one when it is a file
            for a in node.names:
                yield f"{mod}.{a.name}", node.lineno
            yield mod, node.lineno


def package_of(path: Path, root: Path, top: str) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [top, *rel.parts]
    if parts[-1] == "__init__":
        return ".".join(parts[:-1])
    return ".".join(parts[:-1])


def firmware_imports(sub: str) -> Iterator[tuple[Path, str, int]]:
    for path in sorted((FIRMWARE / sub).rglob("*.py")):
        for mod, line in imports(path, sub):
            yield path, mod, line


def test_core_imports_no_hardware():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}"
           for p, mod, line in firmware_imports("core") if mod.split(".")[0] in HARDWARE]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("sub", ["core", "device", "drivers"])
def test_firmware_imports_only_micropython_and_itself(sub):
    own = {"core", "device", "drivers"}
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}" for p, mod, line in firmware_imports(sub)
           if mod.split(".")[0] not in own | MICROPYTHON_MODULES]
    assert not bad, "\n".join(bad)


def host_imports() -> Iterator[tuple[Path, str, int]]:
    for path in sorted(HOST.rglob("*.py")):
        pkg = package_of(path, HOST, "spasmtrack")
        for mod, line in imports(path, pkg):
            yield path, mod, line


def test_host_imports_nothing_from_tests():
    test_modules = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests", "mpunit"}
    test_modules |= {p.stem for p in (ROOT / "tests" / "firmware").glob("*.py")}
    bad = [f"{p.relative_to(ROOT)}:{line} imports {mod}" for p, mod, line in host_imports()
           if mod.split(".")[0] in test_modules]
    assert not bad, "\n".join(bad)


def host_unit(module: str) -> str | None:
    """``spasmtrack.analysis.core`` -> ``analysis``; None for names outside the package or the
    package root itself."""
    parts = module.split(".")
    if parts[0] != "spasmtrack" or len(parts) < 2:
        return None
    unit = parts[1]
    if (HOST / unit).is_dir() or (HOST / f"{unit}.py").is_file():
        return unit
    return None


def host_graph() -> dict[str, set[str]]:
    """Package-level import graph of the host: unit -> units it imports."""
    graph: dict[str, set[str]] = {}
    for path, mod, _ in host_imports():
        rel = path.relative_to(HOST)
        src = rel.parts[0].removesuffix(".py")
        if src == "__init__":
            continue
        dst = host_unit(mod)
        graph.setdefault(src, set())
        if dst is not None and dst != src:
            graph[src].add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert cycles({"analysis": {"report"}, "report": {"analysis", "store"}, "store": set()}) == [["analysis", "report"]]
    assert cycles({"report": {"analysis"}, "analysis": {"store"}}) == []


def test_host_packages_form_no_import_cycle():
    graph = host_graph()
    assert "report" in graph.get("demo", set()) and "analysis" in graph["report"]   # the graph is real
    found = cycles(graph)
    assert not found, "import cycles among host packages: " + "; ".join(" <-> ".join(c) for c in found)


def test_analysis_does_not_import_the_report():
    assert "report" not in host_graph().get("analysis", set())
