"""The architecture, checked from the import graph: folders in layers, each importing only the folders
below it, no cycle, and no module outside ``envs/`` reaching into a task's own code."""

import ast
from pathlib import Path

import hilserl

PACKAGE = Path(hilserl.__file__).parent
LAYERS = ["threads", "source", "config", "envs", "teleop", "agent", "data", "collect", "reward", "training", "distributed",
          "diagnostics", "sweep", "cli"]
"""Bottom to top: a module may import its own folder and the folders before it, never one after it."""
ENV_PUBLIC = {"hilserl.envs", "hilserl.envs.contract", "hilserl.envs.factory", "hilserl.envs.check",
              "hilserl.envs.declared", "hilserl.envs.actions", "hilserl.envs.success_rule", "hilserl.envs.ik"}
ENV_PUBLIC_PACKAGES = ("hilserl.envs.so101",)
"""What code outside ``envs/`` may import of it: the contract, the factory, the checker, what an env
declares (and the settings it does not use), the end-effector
action layout, the success rule, the SO-101 model's IK, and the real arm's driver (bus, calibration, arm,
cameras: hardware, not a task); never a task's modules (the grasp env, its expert and scene; the planar
reach)."""


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hilserl"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("hilserl")}
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hilserl"


def graph() -> dict[str, set[str]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if "proto" not in rel.parts:
            out[module] = imports_of(path)
    return out


def test_every_folder_has_a_layer():
    assert {layer_of(m) for m in graph()} - {"hilserl"} <= set(LAYERS)


def test_no_import_runs_up_the_layers():
    upward = [f"{m} imports {i}" for m, imported in graph().items() for i in imported
              if layer_of(m) != "hilserl" and layer_of(i) != "hilserl"
              and LAYERS.index(layer_of(i)) > LAYERS.index(layer_of(m))]
    assert not upward, "\n".join(sorted(upward))


def test_folders_form_no_cycle():
    edges = {}
    for m, imported in graph().items():
        for i in imported:
            if layer_of(m) != layer_of(i):
                edges.setdefault(layer_of(m), set()).add(layer_of(i))
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in edges.get(node, ()):
            assert state.get(nxt) != "open", f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for node in list(edges):
        if node not in state:
            visit(node, [])


def test_only_envs_reaches_into_a_task():
    reaching = [f"{m} imports {i}" for m, imported in graph().items() for i in imported
                if i.startswith("hilserl.envs") and i not in ENV_PUBLIC and not i.startswith(ENV_PUBLIC_PACKAGES)
                and not m.startswith("hilserl.envs")]
    assert not reaching, "\n".join(sorted(reaching))


def test_every_hilserl_import_names_a_module_that_exists():
    """An import of a module that a refactor moved fails only when that code runs (``diagnose reward``
    and two benchmarks once did); checked here for the package, the benchmarks and the scripts."""
    import importlib.util

    root = PACKAGE.parent
    files = [*PACKAGE.rglob("*.py"), *(root / "benchmarks").glob("*.py"), *(root / "scripts").glob("*.py")]
    missing = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hilserl"):
                names = [f"{node.module}.{a.name}" for a in node.names]
                if importlib.util.find_spec(node.module) is None:
                    missing.append(f"{path.relative_to(root)}: {node.module}")
                    continue
                module = importlib.import_module(node.module)
                missing += [f"{path.relative_to(root)}: {n}" for n, a in zip(names, node.names)
                            if not hasattr(module, a.name) and importlib.util.find_spec(n) is None]
    assert not missing, missing
