"""How scripts/ is layered, read from the source with `ast` (nothing is imported):

- scripts/ holds the steps at its top level and the libraries in packages named for what they hold: comparison
  (the gate's parts), github (the GitHub clients), core (the step contract and the cloud layer);
- a pipeline step imports no other step: what two steps share lives in a library package; only the demo,
  which orchestrates them, imports steps;
- scripts/ takes nothing from the trainer but trainer.data (the smoke test sends the trainer's test digits).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
STEPS = {
    "submit_training",
    "gate",
    "register",
    "deploy",
    "rollback",
    "smoke_test",
    "batch_predict",
    "teardown",
    "fetch_model",
    "image_uri",
    "release_card",
    "monitor",
    "pr_comment",
    "release_guard",
    "keep_verdict",
    "seed_production",
}
# Runnable, but not steps: the demo runs the steps in order; the report renders what they wrote.
ORCHESTRATORS = {"demo"}
TOOLS = {"report"}
# Libraries, by what they hold: the gate's parts, the GitHub clients, the step contract and the cloud layer.
LIBRARIES = {"comparison", "github", "core"}
TRAINER_ALLOWED = {"trainer.data"}


def modules() -> dict[str, Path]:
    """Every module under scripts/, by dotted name (scripts.report.cli, scripts.gate, ...)."""
    found = {}
    for path in sorted(SCRIPTS.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(path: Path, name: str) -> set[str]:
    """Every module (or module attribute) an import statement in the file names; see imported_by."""
    return imported_by(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")


def imported_by(source: str, name: str, is_package: bool = False) -> set[str]:
    """Every module or attribute an import names, deferred imports inside functions included.

    `from scripts import gate` names scripts.gate; `from scripts.gate import decide` names scripts.gate.decide.
    """
    names: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def step_imports(names: set[str], owner: str) -> set[str]:
    """The other steps among imported names."""
    return ({top_level(dotted) for dotted in names} & STEPS) - {owner}


def trainer_imports(names: set[str]) -> set[str]:
    """Imported names from the trainer outside TRAINER_ALLOWED."""
    from_trainer = {dotted for dotted in names if dotted.split(".")[0] == "trainer"}
    return {dotted for dotted in from_trainer if not any(dotted.startswith(f"{ok}.") or dotted == ok
                                                         for ok in TRAINER_ALLOWED)}  # fmt: skip


def top_level(dotted: str) -> str | None:
    """`scripts.gate` and `scripts.gate.x` -> "gate"; None outside scripts."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "scripts" else None


def is_runnable(path: Path) -> bool:
    """A module run as `python -m scripts.<name>`: an `if __name__ == "__main__"` block, or a package __main__."""
    if path.is_dir():
        return (path / "__main__.py").is_file()
    return any(
        isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
        for node in ast.parse(path.read_text(encoding="utf-8")).body
    )


def test_the_top_level_of_scripts_holds_only_steps_and_packages_only_libraries() -> None:
    files = {p.stem for p in SCRIPTS.glob("*.py") if p.name != "__init__.py"}
    packages = {p.name for p in SCRIPTS.iterdir() if (p / "__init__.py").is_file()}
    assert files == STEPS | ORCHESTRATORS, "a top-level module in scripts/ is a step: put libraries in a package"
    assert {name for name in files if is_runnable(SCRIPTS / f"{name}.py")} == files, "every step runs with -m"
    assert packages == LIBRARIES | TOOLS, "classify the new package in this test"
    runnable_libraries = sorted(
        str(path.relative_to(ROOT))
        for name in LIBRARIES
        for path in (SCRIPTS / name).rglob("*.py")
        if is_runnable(path)
    )
    assert not runnable_libraries, f"library modules are not run by themselves: {runnable_libraries}"


@pytest.mark.parametrize("name", sorted(modules()))
def test_a_step_imports_no_other_step(name: str) -> None:
    owner = top_level(name)
    if owner in STEPS:
        others = step_imports(imported(modules()[name], name), owner)
        assert not others, f"{name} imports the step(s) {sorted(others)}: move what they share to a library module"


@pytest.mark.parametrize("name", sorted(modules()))
def test_scripts_take_nothing_from_the_trainer_but_its_data(name: str) -> None:
    outside = trainer_imports(imported(modules()[name], name))
    assert not outside, f"{name} imports {sorted(outside)}; scripts/ may use only {sorted(TRAINER_ALLOWED)}"


@pytest.mark.parametrize(
    ("source", "steps", "trainer"),
    [
        ("from scripts import deploy, probe", {"deploy"}, set()),
        ("from scripts.smoke_test import summary", {"smoke_test"}, set()),
        ("import scripts.gate", {"gate"}, set()),
        ("def later():\n    from . import register", {"register"}, set()),
        ("from scripts import contract, rollout\nfrom trainer.data import load_dataset", set(), set()),
        ("from trainer import data", set(), set()),
        ("from trainer import task", set(), {"trainer.task"}),
        ("import trainer.model", set(), {"trainer.model"}),
    ],
)
def test_the_checks_see_every_spelling_of_an_import(source: str, steps: set[str], trainer: set[str]) -> None:
    names = imported_by(source, "scripts.rollback")
    assert step_imports(names, "rollback") == steps
    assert trainer_imports(names) == trainer
