"""The jobs that hold cloud credentials (id-token: write) install only from requirements.lock, every file checked
by its sha256, and the lock pins exactly what requirements.txt pins (`make lock` regenerates it)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.workflow_commands import Command

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
INSTALL = re.compile(r"\bpip3?\s+install\b|\bpip-sync\b|\buv\s+pip\b")
LOCKED_INSTALL = re.compile(r"\bpip install\b.*--require-hashes\b.*\s-r requirements\.lock$")


def canonical(name: str) -> str:
    """PEP 503's normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """{project: version} of every `name==version` line, following `-r other.txt` includes."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= pins(path.parent / line[3:].strip())
        elif match := PIN.match(line):
            found[canonical(match[1])] = match[2]
    return found


def hashes_per_pin(path: Path) -> dict[str, int]:
    """{project: how many --hash options follow its pin} in a pip-compile --generate-hashes file."""
    counts: dict[str, int] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = canonical(match[1])
            counts[current] = 0
        elif current and line.strip().startswith("--hash=sha256:"):
            counts[current] += 1
        elif not line.startswith(" "):
            current = None
    return counts


def expanded(command: Command) -> list[str]:
    """The command line, or for `make TARGET...` every command make would run for it and its prerequisites."""
    if command.argv[:1] != ("make",):
        return [" ".join(command.argv)]
    targets = [arg for arg in command.argv[1:] if "=" not in arg and not arg.startswith("-")]
    dry = subprocess.run(["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    return [" ".join(line.split()) for line in dry.stdout.replace("\\\n", " ").splitlines()]


def test_jobs_with_an_oidc_token_install_only_hashed_locked_packages(workflows: dict, commands: list) -> None:
    cloud_jobs = {
        (name, job_id)
        for name, workflow in workflows.items()
        for job_id, job in workflow["jobs"].items()
        if job["permissions"].get("id-token") == "write"
    }
    assert cloud_jobs == {("train.yml", "train"), ("release.yml", "deploy"), ("rollback.yml", "rollback")}
    for name, job_id in sorted(cloud_jobs):
        lines = [line for c in commands if (c.workflow, c.job) == (name, job_id) for line in expanded(c)]
        installs = [line for line in lines if INSTALL.search(line)]
        assert installs, f"{name} / {job_id}: installs nothing?"
        for line in installs:
            assert LOCKED_INSTALL.search(line), f"{name} / {job_id}: an install without hashes: {line}"


def test_the_lock_pins_what_requirements_txt_pins_and_hashes_every_file() -> None:
    wanted, locked = pins(ROOT / "requirements.txt"), pins(LOCK)
    assert {name: locked.get(name) for name in wanted} == wanted, "requirements.lock is stale: run `make lock`"
    unhashed = [name for name, count in hashes_per_pin(LOCK).items() if count == 0]
    assert not unhashed and len(hashes_per_pin(LOCK)) == len(locked)
    assert "--find-links" not in LOCK.read_text() and "--index-url" not in LOCK.read_text()  # nothing of this machine
