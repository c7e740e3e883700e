"""scripts/core/git_labels.py: label values, job labels, short SHAs, and where the SHA and run id come from."""

from __future__ import annotations

import pytest

from pipeline_config import ConfigError
from scripts.core import git_labels


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("3F2A" + "0" * 36, "3f2a" + "0" * 36),
        ("refs/pull/12/merge", "refs-pull-12-merge"),
        ("x" * 70, "x" * 63),
        ("run_id-42", "run_id-42"),
        ("héllo wörld", "h-llo-w-rld"),
    ],
)
def test_label_values_are_lowercase_restricted_and_at_most_63_characters(value: str, label: str) -> None:
    assert git_labels.label_value(value) == label


def test_job_labels_leave_out_unknown_values() -> None:
    assert git_labels.job_labels("abc", None, "77") == {"git_sha": "abc", "run_id": "77"}


@pytest.mark.parametrize(
    ("sha", "short"),
    [("0123456789abcdef" * 2 + "01234567", "0123456789ab"), ("3f2a1b2c3d4e-demo-20261124020000", None)],
)
def test_short_sha_cuts_only_full_git_shas(sha: str, short: str | None) -> None:
    assert git_labels.short_sha(sha) == (short or sha)


@pytest.mark.parametrize(
    ("flag", "environ", "expected"),
    [("ABC123 ", {"GITHUB_SHA": "def"}, "abc123"), (None, {"GITHUB_SHA": "Def456"}, "def456")],
)
def test_the_git_sha_is_the_flag_else_githubs(flag: str | None, environ: dict, expected: str) -> None:
    assert git_labels.resolve_git_sha(flag, environ) == expected


def test_without_a_git_sha_anywhere_it_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pass --git-sha"):
        git_labels.resolve_git_sha(None, {})


def test_the_run_id_is_the_flag_else_githubs_else_none() -> None:
    assert git_labels.resolve_run_id("7", {"GITHUB_RUN_ID": "9"}) == "7"
    assert git_labels.resolve_run_id(None, {"GITHUB_RUN_ID": "9"}) == "9"
    assert git_labels.resolve_run_id(None, {}) is None
