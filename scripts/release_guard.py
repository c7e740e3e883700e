"""Refuse to release a commit that is not reviewed and registered: python -m scripts.release_guard

    python -m scripts.release_guard --commit "$GITHUB_SHA" --main-ref origin/main

release.yml runs it, from main's code, before the production environment is entered. A `v*` tag may deploy
only a commit that is on main (`git merge-base --is-ancestor`, in the checkout's full history) and whose
model train.yml registered: a successful train.yml run on main for that very commit (GitHub's API).
Exit status: 0 releasable, 1 refused (one line saying why), 2 usage. Standard library and git only.
"""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Iterator, Mapping, Sequence

from scripts.core.step_runner import Environ, StepResult, run_main, say
from scripts.github.rest import GITHUB_ERRORS, GitHub, Refused

STEP = "release_guard"
TRAIN_WORKFLOW = "train.yml"  # the workflow that trains, gates and registers a merged commit's model
MAIN_BRANCH = "main"
GIT_TIMEOUT_S = 60


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m scripts.{STEP}", description=__doc__.splitlines()[0])
    parser.add_argument("--commit", required=True, help="the commit the tag points at ($GITHUB_SHA)")
    parser.add_argument("--main-ref", default=f"origin/{MAIN_BRANCH}", help="git ref of main (default: %(default)s)")
    parser.add_argument("--repo", help="owner/name (default: $GITHUB_REPOSITORY)")
    parser.add_argument("--git-dir", default=".", help="the checkout with main's full history (default: .)")
    return parser


def git(git_dir: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", git_dir, *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False
    )


def resolve(git_dir: str, ref: str, what: str) -> str:
    """The full SHA of a commit-ish, or Refused naming it."""
    found = git(git_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise Refused(f"{what} {ref!r} is not a commit in {git_dir} (is the checkout's history complete?)")
    return found.stdout.strip()


def check_on_main(git_dir: str, commit: str, main_ref: str) -> str:
    """The commit's SHA when main contains it; Refused otherwise."""
    sha = resolve(git_dir, commit, "the tagged commit")
    main = resolve(git_dir, main_ref, "main")
    answer = git(git_dir, "merge-base", "--is-ancestor", sha, main)
    if answer.returncode == 1:
        raise Refused(
            f"commit {sha[:12]} is not on {MAIN_BRANCH} ({main_ref} is at {main[:12]}): only reviewed code is "
            f"released; merge it through a pull request, then tag the merge commit"
        )
    if answer.returncode != 0:
        raise Refused(f"git merge-base failed: {answer.stderr.strip()}")
    return sha


def check_registered(gh: GitHub, sha: str) -> int:
    """The id of a successful train.yml run on main for this commit; Refused when there is none."""
    runs = gh.get(
        f"/repos/{{repo}}/actions/workflows/{TRAIN_WORKFLOW}/runs",
        {"head_sha": sha, "branch": MAIN_BRANCH, "status": "success", "per_page": 100},
    ).get("workflow_runs", [])
    done = [run for run in runs if run.get("head_sha") == sha and run.get("conclusion") == "success"]
    if not done:
        raise Refused(
            f"{TRAIN_WORKFLOW} has no successful run on {MAIN_BRANCH} for {sha[:12]}, so no model version was "
            f"registered for it (a merge that touched no trainer/, scripts/, pipeline.toml, Dockerfile or "
            f"requirements file is not trained): tag the commit whose {TRAIN_WORKFLOW} run succeeded"
        )
    return int(done[0]["id"])


def main(argv: Sequence[str] | None = None, environ: Environ | None = None) -> int:
    return run_main(STEP, build_parser(), run, argv, environ, GITHUB_ERRORS)


def run(args: argparse.Namespace, environ: Environ) -> StepResult:
    """Each check's line as it passes; the first that fails ends the step (Refused, exit 1)."""
    for line in releasable(args, environ):
        say(STEP, line)
    return StepResult()


def releasable(args: argparse.Namespace, environ: Mapping[str, str]) -> Iterator[str]:
    """The checks in order, a line each; Refused (the commit may not be released: the message says why and what
    to do) at the first that fails."""
    gh = GitHub.from_env(environ, args.repo)
    sha = check_on_main(args.git_dir, args.commit, args.main_ref)
    yield f"{sha[:12]} is on {MAIN_BRANCH}"
    run_id = check_registered(gh, sha)
    yield f"{TRAIN_WORKFLOW} run {run_id} trained and registered it: releasable"


if __name__ == "__main__":
    raise SystemExit(main())
