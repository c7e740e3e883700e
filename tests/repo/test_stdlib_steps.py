"""The steps that run on a bare runner's Python (no venv) import only the standard library and our stdlib-only
modules, and reach their exit status through scripts.core.step_runner there.

report-comment.yml and release.yml run pr_comment, release_guard and release_card with `python -m` on the
runner's own Python, with nothing installed. Each is run here in a child Python started with -I -S: no
site-packages (so no numpy, google or tensorflow, however indirectly imported), no PYTHON* variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB_ONLY = {"scripts", "scripts.core", "scripts.core.step_runner", "scripts.github", "scripts.github.rest",
               "scripts.github.releases", "scripts.github.comment_text", "scripts.github.report_artifact"}  # fmt: skip
SHA = "a" * 40
# Each step run to a known failure that needs neither the network nor gh: its exit status and stderr line.
NO_TOKEN = "no token: set GH_TOKEN (the workflow passes github.token)"
RUNS = {
    "pr_comment": (["--run-id", "1", "--run-url", "https://github.com/me/repo/actions/runs/1", "--conclusion",
                    "success", "--head-sha", SHA, "--head-repo", "me/repo", "--head-branch", "b"],
                   2, f"pr_comment: {NO_TOKEN}\n"),
    "release_guard": (["--commit", SHA], 2, f"release_guard: {NO_TOKEN}\n"),
    "release_card": (["publish", "--tag", "v1", "--metrics", "card.json", "--model", "model.tar.gz",
                      "--report", "r.md"],
                     1, "release_card: --metrics must be a file named metrics.json, got card.json\n"),
}  # fmt: skip
CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
module = __import__(f"scripts.{sys.argv[2]}", fromlist=["main"])
status = module.main(json.loads(sys.argv[3]))
outside = sorted(name for name in sys.modules if name.split(".")[0] not in sys.stdlib_module_names | {"__main__"})
print(json.dumps(outside))
sys.exit(status)
"""


def run_bare(step: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """The step's main() in a Python without site-packages and without a token in its environment; stdout's last
    line lists the modules it imported from outside the standard library."""
    command = [sys.executable, "-I", "-S", "-c", CHILD, str(ROOT), step, json.dumps(argv)]
    environ = {"PATH": os.environ.get("PATH", "")}
    return subprocess.run(command, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("step", sorted(RUNS))
def test_a_bare_runner_step_imports_only_the_standard_library_and_exits_through_the_core(step: str) -> None:
    argv, status, line = RUNS[step]
    done = run_bare(step, argv)
    assert (done.returncode, done.stderr) == (status, line)
    imported = set(json.loads(done.stdout.splitlines()[-1]))
    assert f"scripts.{step}" in imported and "scripts.core.step_runner" in imported
    assert imported - {f"scripts.{step}"} <= STDLIB_ONLY, f"{step} needs {sorted(imported - STDLIB_ONLY)}"


def test_a_module_outside_the_standard_library_is_seen() -> None:
    """The check can fail: the cloud steps' contract needs requests and google, absent without site-packages."""
    done = run_bare("image_uri", ["--help"])
    assert done.returncode == 1 and "ModuleNotFoundError: No module named 'requests'" in done.stderr
