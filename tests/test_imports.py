"""The package's import graph, read statically (ast): no import cycles among
nerve's modules, and ops/ (array-level Functions) never reaches up into
nerve.tensor or nerve.nn. Imports inside functions run late and are not
edges of the graph (everything else a module runs on import is), so the
core layers may import late only what is truly optional (CUDA): a late
import that hides a cycle fails too."""
import ast
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "python" / "nerve"


def extension_modules(repo):
    """The native modules CMake builds into the package (`pybind11_add_module(_C ...)` -> nerve._C): a clean
    checkout has no .so files beside the sources (pip installs them into site-packages)."""
    sources = [repo / "CMakeLists.txt", *sorted((repo / "cmake").glob("*.cmake"))]
    text = "\n".join(p.read_text() for p in sources if p.exists())
    return {f"nerve.{name}" for name in re.findall(r"pybind11_add_module\(\s*(\w+)", text)}


def module_files(package_dir):
    """{dotted module name: path} for every .py file under package_dir, and None for extension modules."""
    root = package_dir.parent
    modules = dict.fromkeys(extension_modules(root.parent))
    for path in package_dir.rglob("*"):
        parts = path.relative_to(root).with_suffix("").parts
        if path.suffix == ".py":
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        elif path.suffix in (".so", ".pyd"):  # nerve/_C.cpython-312-x86_64-linux-gnu.so -> nerve._C
            modules[".".join(parts[:-1] + (parts[-1].split(".")[0],))] = None
    return modules


def _import_nodes(tree, module_level):
    """Import statements of a module: those it runs on import (module_level) or all of them."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not (module_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))):
            stack.extend(ast.iter_child_nodes(node))


def imported_modules(name, path, modules, module_level=True):
    """The modules of `modules` that module `name` (file `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path)), module_level):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative: one level is the current package, each further one goes up
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import sub` imports the submodule pkg.sub; `from mod import name` imports mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph(package_dir, module_level=True):
    modules = module_files(package_dir)
    return {name: imported_modules(name, path, modules, module_level)
            for name, path in modules.items() if path is not None}


def find_cycle(graph):
    """One import cycle as [a, b, ..., a], or None. Iterative depth-first search."""
    done, on_path = set(), {}
    for start in sorted(graph):
        if start in done:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        on_path[start] = 0
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                done.add(path[-1])
                del on_path[path.pop()]
                stack.pop()
            elif nxt in on_path:
                return path[on_path[nxt]:] + [nxt]
            elif nxt not in done:
                on_path[nxt] = len(path)
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_graph(PACKAGE_DIR))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


CORE = ("nerve.autograd", "nerve.tensor", "nerve.functions", "nerve.kernels", "nerve.testing", "nerve.ops",
        "nerve.nn", "nerve.backend")
OPTIONAL = {"nerve.backend.cuda", "nerve._cuda"}  # need cupy or a CUDA build: imported when first used


def test_core_imports_late_only_what_is_optional():
    on_import, everywhere = import_graph(PACKAGE_DIR), import_graph(PACKAGE_DIR, module_level=False)
    late = {name: sorted(everywhere[name] - on_import[name] - OPTIONAL) for name in everywhere
            if any(name == c or name.startswith(c + ".") for c in CORE)}
    assert not any(late.values()), f"imports inside functions: {({k: v for k, v in late.items() if v})}"


def test_ops_import_neither_tensor_nor_nn():
    graph = import_graph(PACKAGE_DIR, module_level=False)  # not even late, inside a function
    bad = {name: sorted(t for t in targets if t == "nerve.tensor" or t == "nerve.nn" or t.startswith("nerve.nn."))
           for name, targets in graph.items() if name == "nerve.ops" or name.startswith("nerve.ops.")}
    assert not any(bad.values()), f"ops/ reaches up: {({k: v for k, v in bad.items() if v})}"


def test_the_checks_see_a_cycle(tmp_path):
    """A package whose modules import each other in a circle, through each import form the graph resolves."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import os\nfrom . import b\n\ndef late():\n    import pkg.c\n")
    (pkg / "b.py").write_text("from pkg.sub.c import thing\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("try:\n    from ..a import x\nexcept ImportError:\n    pass\nthing = 1\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.sub.c"} and graph["pkg.sub.c"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]
    (pkg / "sub" / "c.py").write_text("thing = 1\n")
    assert find_cycle(import_graph(pkg)) is None
