"""The code's shape: small modules and functions, dependencies that are the ones used, and no
pointer to a file the repository does not hold."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "oob"
MODULE_LINES = 500
FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _name(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    return {_normal(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def _normal(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _imported() -> dict[str, str]:
    """Each third-party top-level module src/ imports, with one module that imports it."""
    found: dict[str, str] = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != "oob" and top not in sys.stdlib_module_names:
                    found.setdefault(top, _name(path))
    return found


def test_no_module_in_src_is_over_500_lines() -> None:
    long = {
        _name(p): n
        for p in _modules()
        if (n := len(p.read_text("utf-8").splitlines())) > MODULE_LINES
    }
    assert long == {}, f"split these by what each part does: {long}"


def test_no_function_in_src_is_over_60_lines() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > FUNCTION_LINES:
                    long[f"{_name(path)}:{node.name}"] = lines
    assert long == {}, f"give these named parts: {long}"


def test_every_runtime_dependency_is_imported_and_every_import_is_declared() -> None:
    declared = _declared()
    distributions = packages_distributions()
    used: set[str] = set()
    undeclared = {}
    for module, where in _imported().items():
        names = {_normal(d) for d in distributions.get(module, [module])}
        used |= names
        if not names & declared:
            undeclared[module] = where
    assert undeclared == {}, "declare these in pyproject's dependencies"
    assert declared - used == set(), "these dependencies are never imported by oob"


def test_no_code_points_at_a_file_outside_the_repository() -> None:
    outside = re.compile(r"DESIGN\.md|\.\./shared|/work/")
    cited = [_name(p) for p in _modules() if outside.search(p.read_text("utf-8"))]
    assert cited == []


def test_the_otel_extra_is_what_dbos_imports_to_export_traces() -> None:
    """oob imports nothing of its optional `otel` extra (DBOS's tracer does, once traces are
    asked for; `oob.telemetry` only checks that it can), so the test above does not see it:
    the extra names exactly the distributions `oob.telemetry` checks."""
    from oob.telemetry import EXPORTER_MODULES

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    otel = project["optional-dependencies"]["otel"]
    named = {_normal(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in otel}
    assert named == set(EXPORTER_MODULES)
