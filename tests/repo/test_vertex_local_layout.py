"""vertex_local's layout rules, read from the source with ast: one subpackage per surface, few arrows between them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "vertex_local"
SURFACES = ("http", "gcs", "vertex", "serving", "console")
# A surface's route modules: what the app wires up, never what another surface imports.
ROUTE_MODULES = {"gcs.routes", "gcs.uploads", "vertex.model_service", "vertex.endpoint_service",
                 "vertex.job_service", "vertex.deployments", "serving.predict"}  # fmt: skip
MAX_TOP_LEVEL_MODULES = 8


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, by absolute name (`from a.b import c` counts a.b, and a.b.c if c is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}"))
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def surface_of(module: str) -> str | None:
    """'vertex_local.gcs.store' -> 'gcs'; None for the top-level modules."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "vertex_local" and parts[1] in SURFACES else None


def test_vertex_local_imports_nothing_from_the_trainer() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sources()
        for module in imported_modules(path)
        if module == "trainer" or module.startswith("trainer.")
    ]
    assert offenders == []


def test_the_top_level_holds_at_most_eight_modules_and_one_subpackage_per_surface() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
    packages = sorted(path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file())
    assert packages == sorted(SURFACES)


@pytest.mark.parametrize("surface", SURFACES)
def test_each_surface_says_what_it_owns_in_its_docstring(surface: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / surface / "__init__.py").read_text(encoding="utf-8")))
    assert docstring and len(docstring.split()) >= 8, f"vertex_local/{surface}/__init__.py needs a docstring"


def test_no_surface_imports_another_surfaces_routes() -> None:
    offenders = []
    for path in sources():
        own = surface_of("vertex_local." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for module in imported_modules(path):
            target = module.removeprefix("vertex_local.")
            if own is not None and target in ROUTE_MODULES and surface_of(module) != own:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_gcs_surface_is_used_by_others_only_through_its_public_api() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sources()
        if path.parent.name not in ("gcs",) and path.name != "app.py"
        for module in imported_modules(path)
        if module.startswith("vertex_local.gcs.")
    ]
    assert offenders == []
