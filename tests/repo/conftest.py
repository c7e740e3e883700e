"""Shared fixtures for the repository checks: the parsed workflows and every shell command in them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.workflow_commands import WORKFLOWS, Command, commands_in, load_workflow


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    found = {path.name: load_workflow(path) for path in sorted(WORKFLOWS.glob("*.yml"))}
    assert found, f"no workflows under {WORKFLOWS}"
    return found


@pytest.fixture(scope="session")
def commands(workflows: dict[str, dict[str, Any]]) -> list[Command]:
    return [command for name, workflow in workflows.items() for command in commands_in(name, workflow)]
