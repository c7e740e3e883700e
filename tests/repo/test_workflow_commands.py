"""Every command a workflow runs is `make <target>` or `python -m scripts.<step> ...`, and it parses.

`python` is .venv/bin/python (what `make venv` installs into) or, where a step needs only the standard
library, the runner's own.

The arguments are parsed with the step's own build_parser(), so a workflow cannot call a flag that
does not exist; `$NAME` values must be defined in the step's, job's or workflow's env (or by GitHub).
"""

from __future__ import annotations

import fnmatch
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
Command = Any  # tests/repo/conftest.py's Command: workflow, job, step, argv, env, where()

# Set by GitHub on every runner (the workflows use no others).
GITHUB_DEFAULT_ENV = {"GITHUB_SHA", "GITHUB_RUN_ID", "GITHUB_REF_NAME", "GITHUB_REPOSITORY"}
# A value of the right shape for variables whose flag checks it; others get a placeholder.
SAMPLE_VALUES = {
    "PR_NUMBER": "17",
    "RUN_ID": "4242",
    "RUN_URL": "https://github.com/me/repo/actions/runs/4242",
    "CONCLUSION": "success",
    "HEAD_SHA": "c0ffee" * 6 + "abcd",
    "GITHUB_SHA": "c0ffee" * 6 + "abcd",
    "VERSION_ID": "3",
    "HEAD_REPO": "fork-owner/repo",
}
PYTHONS = ("python", ".venv/bin/python")
ENV_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:(?!=)", makefile, flags=re.MULTILINE))


def substitute_env(argv: tuple[str, ...]) -> list[str]:
    return [ENV_REFERENCE.sub(lambda m: SAMPLE_VALUES.get(m.group(1), f"sample-{m.group(1).lower()}"), a) for a in argv]


def test_every_run_step_is_make_or_a_scripts_module(commands: list[Command]) -> None:
    assert commands, "the workflows run no commands at all"
    for command in commands:
        argv = command.argv
        is_make = argv[0] == "make" and len(argv) == 2
        is_step = argv[0] in PYTHONS and argv[1:2] == ("-m",) and len(argv) > 2 and argv[2].startswith("scripts.")
        assert is_make or is_step, f"logic in YAML: {command.where()}"


def test_every_make_target_a_workflow_calls_exists(commands: list[Command]) -> None:
    targets = make_targets()
    for command in (c for c in commands if c.argv[0] == "make"):
        assert command.argv[1] in targets, f"no Makefile target {command.argv[1]!r}: {command.where()}"


def test_every_scripts_call_parses_with_that_steps_own_parser(commands: list[Command]) -> None:
    calls = [c for c in commands if c.argv[0] in PYTHONS]
    assert len(calls) >= 10, "expected the pipeline steps in the workflows"
    for command in calls:
        module = importlib.import_module(command.argv[2])
        parser = module.build_parser()
        parser.exit_on_error = False
        parser.allow_abbrev = False  # a workflow spells each flag in full
        try:
            parser.parse_args(substitute_env(command.argv[3:]))
        except SystemExit as exc:  # argparse still exits on some errors (required flags)
            pytest.fail(f"arguments do not parse (exit {exc.code}): {command.where()}")
        except Exception as exc:
            pytest.fail(f"arguments do not parse ({exc}): {command.where()}")


def test_every_env_reference_in_a_command_is_defined(commands: list[Command]) -> None:
    for command in commands:
        for argument in command.argv:
            for name in ENV_REFERENCE.findall(argument):
                known = name in command.env or name in GITHUB_DEFAULT_ENV
                assert known, f"${name} is not set for this step: {command.where()}"


def test_no_expression_is_expanded_inside_a_run_script(workflows: dict) -> None:
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), f"{name} / {job_id}: pass ${{{{ }}}} values via env:"


def test_the_pipeline_steps_each_appear_in_a_workflow(commands: list[Command]) -> None:
    called = {c.argv[2] for c in commands if c.argv[0] in PYTHONS}
    for step in ("submit_training", "gate", "register", "deploy", "rollback", "report", "pr_comment", "release_guard",
                 "seed_production", "keep_verdict", "fetch_model", "release_card"):  # fmt: skip
        assert f"scripts.{step}" in called, f"no workflow runs scripts.{step}"


def run_of(step: dict) -> str:
    return str(step.get("run", "")).strip()


def test_every_job_that_starts_vertex_local_stops_it_whatever_happened(workflows: dict) -> None:
    """A server left running by a failed or cancelled step holds the port (and a self-hosted runner's memory)."""
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            steps = job.get("steps", [])
            starts = [i for i, step in enumerate(steps) if run_of(step) == "make up"]
            if not starts:
                continue
            stops = [i for i, step in enumerate(steps) if run_of(step) == "make down"]
            assert stops and stops[-1] == len(steps) - 1 and stops[-1] > starts[0], f"{name} {job_id}: no final stop"
            assert str(steps[stops[-1]].get("if", "")).replace(" ", "") in ("always()", "${{always()}}"), (
                f"{name} {job_id}: `make down` must run `if: always()`"
            )


def requirement_files(path: Path) -> set[str]:
    """`path` and every file it pulls in with -r, relative to the repository root."""
    found = {path.relative_to(ROOT).as_posix()}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-r "):
            found |= requirement_files((path.parent / line[3:].split("#")[0].strip()).resolve())
    return found


def test_every_pip_cache_key_covers_every_requirements_file_an_install_reads(workflows: dict) -> None:
    needed = requirement_files(ROOT / "requirements-dev.txt") | requirement_files(ROOT / "requirements.txt")
    assert "trainer/requirements.txt" in needed
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                options = step.get("with", {})
                if options.get("cache") != "pip":
                    continue
                patterns = str(options.get("cache-dependency-path", "")).split()
                # Globs from the repository root, as actions/cache reads them: requirements*.txt is not trainer/'s.
                covered = {file for file in needed if any(fnmatch.fnmatchcase(file, pattern) for pattern in patterns)}
                assert covered == needed, f"{name} {job_id}: the pip cache key misses {sorted(needed - covered)}"
