"""How scripts/ is layered, read from the source with `ast` (nothing is imported):

- scripts/ holds the steps at its top level and the libraries in packages named for what they hold: comparison
  (the gate's parts), github (the GitHub clients), core (the step contract and the cloud layer);
- a pipeline step imports no other step: what two steps share lives in a library package; only the demo,
  which orchestrates them, imports steps;
- scripts/ takes nothing from the trainer but trainer.data (the smoke test sends the trainer's test digits);
- every runnable module's main() is `return run_main(...)`: the one error path, scripts.core.step_runner, either
  directly or through scripts.core.step's run_main, which hands it the cloud's errors.
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
CORE = "scripts.core.step_runner"
RUN_MAIN_FROM = {CORE, "scripts.core.step"}  # contract.run_main is step_runner.run_main with CLOUD_ERRORS
MAIN_OF = {"report": SCRIPTS / "report" / "cli.py"}  # a package's main(), which its __main__.py calls


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


def function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def called_name(call: ast.expr) -> str | None:
    """`run_main(...)` and `step_runner.run_main(...)` -> "run_main"; None for anything but a call."""
    if not isinstance(call, ast.Call):
        return None
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def run_main_source(tree: ast.Module) -> str | None:
    """The module a file takes the name run_main from (`from scripts.core.step import run_main`), if any."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(alias.name == "run_main" for alias in node.names):
            return node.module
    return None


def error_path_problems(source: str) -> list[str]:
    """Why a runnable module's main() does not go through the core; empty when it does."""
    tree = ast.parse(source)
    main = function(tree, "main")
    if main is None:
        return ["no main()"]
    last = main.body[-1]
    if not (isinstance(last, ast.Return) and called_name(last.value) == "run_main"):
        return ["main() does not end in `return run_main(...)`"]
    problems = []
    if run_main_source(tree) not in RUN_MAIN_FROM:
        problems.append(f"run_main comes from {run_main_source(tree)}, not {sorted(RUN_MAIN_FROM)}")
    for node in ast.walk(main):
        if isinstance(node, ast.Try | ast.Raise) or (isinstance(node, ast.Return) and node is not last):
            problems.append(f"main() has its own `{ast.unparse(node).splitlines()[0]}`: errors belong to {CORE}")
    return problems


@pytest.mark.parametrize("name", sorted(STEPS | ORCHESTRATORS | TOOLS))
def test_every_runnable_module_runs_through_the_one_error_path(name: str) -> None:
    path = MAIN_OF.get(name, SCRIPTS / f"{name}.py")
    assert error_path_problems(path.read_text(encoding="utf-8")) == []


def test_contracts_run_main_is_the_cores_with_the_cloud_errors() -> None:
    tree = ast.parse((SCRIPTS / "core" / "step.py").read_text(encoding="utf-8"))
    for name in ("run_main", "run_step"):
        last = ast.unparse(function(tree, name).body[-1])
        assert last.startswith(f"return step_runner.{name}(") and "CLOUD_ERRORS" in last


@pytest.mark.parametrize(
    ("source", "problems"),
    [
        ("from scripts.core.step import run_main\ndef main(argv=None):\n    return run_main(S, p(), run, argv)", []),
        ("from scripts import step_runner\nfrom scripts.core.step_runner import run_main\n"
         "def main(argv=None):\n    x = 1\n    return run_main(S, p(), run, argv)", []),
        ("def main(argv=None):\n    args = p().parse_args(argv)\n    return exit_status(S, work)",
         ["main() does not end in `return run_main(...)`"]),
        ("from elsewhere import run_main\ndef main(argv=None):\n    return run_main(S, p(), run, argv)",
         ["run_main comes from elsewhere, not ['scripts.core.step', 'scripts.core.step_runner']"]),
        ("from scripts.core.step import run_main\ndef main(argv=None):\n    try:\n        pass\n"
         "    except E:\n        return 2\n    return run_main(S, p(), run, argv)",
         ["main() has its own `try:`: errors belong to scripts.core.step_runner",
          "main() has its own `return 2`: errors belong to scripts.core.step_runner"]),
        ("x = 1", ["no main()"]),
    ],
)  # fmt: skip
def test_the_error_path_check_sees_a_main_of_its_own(source: str, problems: list[str]) -> None:
    assert error_path_problems(source) == problems


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
