"""GitHub Releases through the `gh` CLI: one call, and the latest Release's assets downloaded.

Standard library only: release.yml's write-token job runs scripts.release_card on the runner's own Python.
Downloads tell "there is no such Release or asset" (None) from "GitHub failed" (ReleaseUnavailable), so a
caller can say "first run" for the one and "baseline unavailable" for the other. gh reads its token from GH_TOKEN.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from scripts.core.step_runner import EXIT_FAILED, KnownError

REASON_CHARS = 300  # of gh's error, in one line: enough for "HTTP 502: Bad Gateway (https://api.github.com/...)"


class ReleaseError(RuntimeError):
    """gh is missing or GitHub refused a Release operation."""


class ReleaseUnavailable(ReleaseError):
    """GitHub could not say what the latest Release holds (an outage, a 5xx, a timeout): not "there is none"."""


# For step_runner.run_main: gh missing or GitHub refusing is a failure of the step, not a usage error.
RELEASE_ERRORS = (KnownError(ReleaseError, EXIT_FAILED),)


def run_gh(args: list[str], repo: str | None) -> subprocess.CompletedProcess[str]:
    """One gh call, its output captured; a missing gh is a clear error rather than a traceback."""
    gh = shutil.which("gh")
    if gh is None:
        raise ReleaseError("the GitHub CLI `gh` is not installed (it is on GitHub's runners)")
    command = [gh, *args, *(["--repo", repo] if repo else [])]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _not_found(result: subprocess.CompletedProcess[str]) -> bool:
    # gh's words for no Release ("release not found") and for a Release without the asset ("no assets match the
    # file pattern", "no assets to download"): cli/cli pkg/cmd/release/download/download.go.
    text = (result.stderr + result.stdout).lower()
    return "not found" in text or "no assets" in text or "no release" in text


def download_latest_asset(name: str, dest: Path, repo: str | None) -> Path | None:
    """The latest Release's asset `name` in `dest`, or None when there is no Release or it has no such asset.

    Any other failure raises ReleaseUnavailable with gh's reason on one line.
    """
    dest.mkdir(parents=True, exist_ok=True)
    # No tag: gh downloads from the latest Release, and then requires --pattern (gh-release-download(1)).
    result = run_gh(["release", "download", "--pattern", name, "--dir", str(dest), "--clobber"], repo)
    if result.returncode != 0:
        if _not_found(result):
            return None
        reason = " ".join((result.stderr or result.stdout).split())[:REASON_CHARS]
        raise ReleaseUnavailable(f"gh release download failed: {reason or f'exit status {result.returncode}'}")
    found = dest / name
    return found if found.is_file() and not found.is_symlink() else None
