"""scripts.release_guard on a real git repository built in tmp_path, with GitHub's API as a stand-in.

`upstream` plays GitHub's copy: main with two merged commits, a feature branch nobody merged, and tags on
both. `checkout` is what release.yml's guard job has: a clone of main with every branch and tag fetched,
so `origin/main` is main as GitHub knows it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import release_guard
from tests.support.github_rest import GitHubStandIn

RUNS = "/repos/me/repo/actions/workflows/train.yml/runs"


@dataclasses.dataclass(frozen=True)
class Repo:
    checkout: Path
    merged: str  # a commit on main
    unmerged: str  # a commit only on a feature branch


IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull}  # fmt: skip


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **IDENTITY}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def commit(cwd: Path, name: str) -> str:
    (cwd / name).write_text(name)
    git(cwd, "add", name)
    git(cwd, "commit", "-q", "-m", name)
    return git(cwd, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    root = tmp_path_factory.mktemp("release-guard")
    upstream = root / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    commit(upstream, "first")
    git(upstream, "checkout", "-q", "-b", "feature")
    unmerged = commit(upstream, "unreviewed")
    git(upstream, "tag", "-a", "v0.9.0", "-m", "an annotated tag on the unmerged commit")
    git(upstream, "checkout", "-q", "main")
    merged = commit(upstream, "reviewed")
    git(upstream, "tag", "v1.0.0")
    # As actions/checkout with ref: main and fetch-depth: 0 leaves it: main checked out, all branches and tags.
    git(root, "clone", "-q", "--branch", "main", str(upstream), "checkout")
    git(root / "checkout", "fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*")
    return Repo(root / "checkout", merged, unmerged)


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as stand_in:
        yield stand_in


def train_runs(*runs: tuple[str, str]) -> dict:
    return {"workflow_runs": [{"id": 700 + i, "head_sha": sha, "conclusion": conclusion, "head_branch": "main"}
                              for i, (sha, conclusion) in enumerate(runs)]}  # fmt: skip


def guard(repo: Repo, github: GitHubStandIn, commit: str, capsys) -> tuple[int, str, str]:
    argv = ["--commit", commit, "--main-ref", "origin/main", "--git-dir", str(repo.checkout)]
    status = release_guard.main(argv, github.environ())
    out, err = capsys.readouterr()
    return status, out, err


def test_a_registered_commit_on_main_is_releasable(repo: Repo, github: GitHubStandIn, capsys) -> None:
    github.answer("GET", RUNS, train_runs((repo.merged, "success")))
    status, out, err = guard(repo, github, repo.merged, capsys)
    assert (status, err) == (0, "")
    assert f"{repo.merged[:12]} is on main" in out and "train.yml run 700 trained and registered it" in out
    (call,) = github.calls
    assert call.query["head_sha"] == repo.merged and call.query["branch"] == "main"


def test_the_tag_name_resolves_as_the_workflow_would_pass_it(repo: Repo, github: GitHubStandIn, capsys) -> None:
    github.answer("GET", RUNS, train_runs((repo.merged, "success")))
    assert guard(repo, github, "v1.0.0", capsys)[0] == 0


@pytest.mark.parametrize("ref", ["unmerged", "v0.9.0"])
def test_a_commit_not_on_main_is_refused_before_github_is_asked(
    repo: Repo, github: GitHubStandIn, capsys, ref: str
) -> None:
    commit = repo.unmerged if ref == "unmerged" else ref
    github.answer("GET", RUNS, train_runs((repo.unmerged, "success")))  # even a branch run that registered it
    status, _, err = guard(repo, github, commit, capsys)
    assert status == 1
    assert f"commit {repo.unmerged[:12]} is not on main" in err and "merge it through a pull request" in err
    assert github.calls == []


@pytest.mark.parametrize("runs", [(), (("other", "success"),), (("same", "failure"),)])
def test_a_commit_on_main_without_a_successful_train_run_is_refused(
    repo: Repo, github: GitHubStandIn, capsys, runs: tuple
) -> None:
    listed = [(repo.merged if sha == "same" else "f" * 40, conclusion) for sha, conclusion in runs]
    github.answer("GET", RUNS, train_runs(*listed))
    status, _, err = guard(repo, github, repo.merged, capsys)
    assert status == 1 and "train.yml has no successful run on main" in err and "no model version" in err


def test_a_commit_the_checkout_does_not_have_is_refused(repo: Repo, github: GitHubStandIn, capsys) -> None:
    status, _, err = guard(repo, github, "1234567" * 5 + "89abc", capsys)
    assert status == 1 and "is not a commit" in err and "history complete" in err


def test_github_failing_fails_the_guard(repo: Repo, github: GitHubStandIn, capsys) -> None:
    github.answer("GET", RUNS, {"message": "Server Error"}, status=502)
    status, _, err = guard(repo, github, repo.merged, capsys)
    assert status == 1 and "GitHub answered 502" in err


def test_without_a_token_the_guard_is_a_usage_error(repo: Repo, capsys) -> None:
    argv = ["--commit", repo.merged, "--git-dir", str(repo.checkout)]
    assert release_guard.main(argv, {"GITHUB_REPOSITORY": "me/repo"}) == 2
    assert "no token" in capsys.readouterr().err
