"""The packages' shape, read from the source (ast): the code location does not import the serving
package; serving leans only on the Dagster-free core of stock_assets; no two modules import each
other, directly or in a circle; no file is over 300 lines."""

import ast
import json
import subprocess
import sys

from tests.conftest import REPO

PACKAGES = ("stock_assets", "stock_serving")
MAX_LINES = 300


def modules() -> dict[str, object]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(name: str, path, known: dict) -> set[str]:
    """Project modules `name` imports anywhere in the file (lazy imports and TYPE_CHECKING included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_the_code_location_does_not_import_the_serving_package():
    leaning = {m: sorted(t for t in targets if t.startswith("stock_serving"))
               for m, targets in graph().items() if m.startswith("stock_assets")}
    assert {m: t for m, t in leaning.items() if t} == {}


def test_no_import_circle():
    edges = graph()
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            # a package's __init__ importing its own modules is not a circle between modules
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_serving_leans_only_on_the_dagster_free_core():
    core = sorted({t for m, targets in graph().items() if m.startswith("stock_serving")
                   for t in targets if t.startswith("stock_assets")})
    assert core, "the serving package reads the platform's contracts from stock_assets"
    probe = ("import importlib, json, sys\n"
             f"for name in {core!r}:\n"
             "    importlib.import_module(name)\n"
             "    if 'dagster' in sys.modules:\n"
             "        print(json.dumps(name)); break\n"
             "else:\n"
             "    print(json.dumps(None))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) is None, f"this core module pulls in Dagster: {done.stdout}"


def test_no_file_over_300_lines():
    files = [p for folder in (*PACKAGES, "tests", "bench", "scripts") for p in (REPO / folder).rglob("*.py")]
    long = {str(p.relative_to(REPO)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
