"""The repository's GitHub workflows, parsed: every shell command of every `run:` step, with the env names it sees."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


WORKFLOWS = ROOT / ".github" / "workflows"


@dataclasses.dataclass(frozen=True)
class Command:
    """One shell command from a step's `run:`, with the env names visible to it."""

    workflow: str
    job: str
    step: str
    argv: tuple[str, ...]
    env: frozenset[str]

    def where(self) -> str:
        return f"{self.workflow} / {self.job} / {self.step}: {shlex.join(self.argv)}"


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def commands_in(name: str, workflow: dict[str, Any]) -> list[Command]:
    """Every command of every `run:` step; a line ending in a backslash continues on the next."""
    found = []
    for job_id, job in workflow["jobs"].items():
        job_env = set(workflow.get("env", {})) | set(job.get("env", {}))
        for index, step in enumerate(job.get("steps", [])):
            if "run" not in step:
                continue
            env = frozenset(job_env | set(step.get("env", {})))
            script = step["run"].replace("\\\n", " ")
            for line in script.splitlines():
                if line.strip() and not line.strip().startswith("#"):
                    label = step.get("name", f"step {index + 1}")
                    found.append(Command(name, job_id, label, tuple(shlex.split(line)), env))
    return found
