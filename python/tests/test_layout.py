"""The package's layout is its architecture: the numerical core imports neither the demo nor the
test support, so neither can leak into what the core computes."""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(__file__), "..", "osrm_runtime")
# The boundary may know the demo (it resolves demo task sources) and the test ops (by name).
BOUNDARY = {"dispatch.py", "bridge.py", "__main__.py", "registry.py"}
APART = ("demo", "testing")


def _imports(path: str, module: str) -> set[str]:
    """Absolute names of the osrm_runtime modules a file imports (relative imports resolved)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = module.split(".")[:-1]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("osrm_runtime"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names.add(target)
                names.update(f"{target}.{a.name}" for a in node.names)
            elif node.module and node.module.startswith("osrm_runtime"):
                names.add(node.module)
    return names


def _core_files():
    for root, _, files in os.walk(PACKAGE):
        rel = os.path.relpath(root, PACKAGE)
        if rel.split(os.sep)[0] in APART:
            continue
        for name in files:
            if name.endswith(".py") and not (rel == "." and name in BOUNDARY):
                path = os.path.join(root, name)
                parts = ["osrm_runtime"] + ([] if rel == "." else rel.split(os.sep)) + [name[:-3]]
                yield path, ".".join(parts)


def test_the_core_imports_neither_the_demo_nor_the_test_support():
    checked = 0
    for path, module in _core_files():
        checked += 1
        bad = sorted(n for n in _imports(path, module)
                     if any(n == f"osrm_runtime.{a}" or n.startswith(f"osrm_runtime.{a}.") for a in APART))
        assert not bad, f"{module} imports {bad}"
    assert checked > 40  # the walk really saw the core


def test_the_check_sees_a_forbidden_import(tmp_path):
    fake = tmp_path / "x.py"
    fake.write_text("from ..demo import corpus\nfrom osrm_runtime.testing import fixtures\n")
    assert _imports(str(fake), "osrm_runtime.merge.x") >= {"osrm_runtime.demo", "osrm_runtime.testing"}
