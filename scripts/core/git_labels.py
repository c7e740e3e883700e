"""Which commit and CI run a step works for, and how they become Vertex labels and short names.

The steps take --git-sha and --run-id, else GitHub's $GITHUB_SHA and $GITHUB_RUN_ID, from the
environment their main() hands down.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline_config import ConfigError

FULL_SHA_LENGTH = 40
SHORT_SHA_LENGTH = 12
MAX_LABEL_LENGTH = 63  # Vertex's (and Kubernetes') limit on a label value


def resolve_git_sha(flag: str | None, environ: Mapping[str, str]) -> str:
    """--git-sha, else $GITHUB_SHA (set in GitHub Actions); a step that needs one fails without it."""
    sha = flag or environ.get("GITHUB_SHA")
    if not sha:
        raise ConfigError("no git SHA: pass --git-sha (GitHub Actions sets $GITHUB_SHA)")
    return sha.strip().lower()


def resolve_run_id(flag: str | None, environ: Mapping[str, str]) -> str | None:
    """--run-id, else $GITHUB_RUN_ID; None outside CI."""
    return flag or environ.get("GITHUB_RUN_ID")


def short_sha(sha: str) -> str:
    """12 characters of a 40-hex git SHA; other identifiers (demo runs) are kept whole."""
    is_full_sha = len(sha) == FULL_SHA_LENGTH and all(c in "0123456789abcdef" for c in sha)
    return sha[:SHORT_SHA_LENGTH] if is_full_sha else sha


def label_value(value: str) -> str:
    """A valid Vertex label value: lowercase letters, digits, `-` and `_`, at most 63 characters."""
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in value.lower())
    return cleaned[:MAX_LABEL_LENGTH]


def job_labels(git_sha: str | None, pr: str | None, run_id: str | None) -> dict[str, str]:
    """Labels for the values that are known; empty ones are left out."""
    known = {"git_sha": git_sha, "pr": pr, "run_id": run_id}
    return {key: label_value(value) for key, value in known.items() if value}
