"""Run a workflow step's `run:` command as a GitHub runner would: bash, in the job's folder, with its env.

    job = job_folder(tmp_path)                       # out/ and .venv, as after checkout and `make venv`
    ran = run_step("pr.yml", "pipeline", "Gate", job, {"MODEL_DIR": uri})
    ran.status, ran.stdout, ran.outputs              # outputs: what the step wrote to $GITHUB_OUTPUT

The command is the YAML's own text, so a test of it fails when the workflow changes what it runs. The values
GitHub would put in the step's `env:` (expressions) are the caller's to give; PIPELINE_* variables reach the
step from the test's environment (tests/scripts/conftest.py points them at the session's vertex-local).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.support.vertex_local_server import REPO_ROOT
from tests.support.workflow_commands import WORKFLOWS, load_workflow

STEP_TIMEOUT_S = 600  # a gate loads TensorFlow and two models; a busy 2-core machine needs the room


@dataclasses.dataclass(frozen=True)
class StepRan:
    status: int
    stdout: str
    stderr: str
    outputs: dict[str, str]


def workflow_step(workflow: str, job: str, name: str) -> dict[str, Any]:
    (step,) = [s for s in load_workflow(WORKFLOWS / workflow)["jobs"][job]["steps"] if s.get("name") == name]
    return step


def job_folder(root: Path) -> Path:
    """The job's working directory: the repository's .venv beside an empty out/."""
    folder = root / "job"
    (folder / "out").mkdir(parents=True)
    (folder / ".venv").symlink_to(REPO_ROOT / ".venv")
    return folder


def run_step(workflow: str, job: str, name: str, folder: Path, env: dict[str, str]) -> StepRan:
    """The step's command in `folder`; `env` stands for the values of its (and its job's) `env:` expressions."""
    step = workflow_step(workflow, job, name)
    output_file = folder / f"github_output-{len(list(folder.glob('github_output-*')))}"
    output_file.touch()
    environ = {**os.environ, **env, "PYTHONPATH": str(REPO_ROOT), "GITHUB_OUTPUT": str(output_file)}
    done = subprocess.run(
        ["bash", "-c", step["run"]], cwd=folder, env=environ, capture_output=True, text=True, timeout=STEP_TIMEOUT_S
    )
    lines = output_file.read_text(encoding="utf-8").splitlines()
    return StepRan(done.returncode, done.stdout, done.stderr, dict(line.split("=", 1) for line in lines if "=" in line))
