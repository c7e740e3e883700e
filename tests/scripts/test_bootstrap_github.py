"""scripts/bootstrap_github.sh: the tag ruleset and the production environment, through a stand-in `gh`.

GitHub is out of reach here, so `gh` is a recording stand-in on PATH: it logs each call with the JSON body
it was given on stdin, and answers the look-ups (the logged-in user, user ids, existing rulesets and
deployment policies) from $EXISTING_RULESET and $EXISTING_POLICY.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bootstrap_github.sh"
PR_WORKFLOW = ROOT / ".github" / "workflows" / "pr.yml"
GITHUB_ACTIONS_APP_ID = 15368  # the GitHub Actions app: only its check runs satisfy a required check
FAKE_GH = """#!/usr/bin/env bash
body=""; if [[ " $* " == *" --input - "* ]]; then body=$(tr -d "\\n"); fi
printf '%s\\t%s\\n' "$*" "$body" >> "$GH_LOG"
case "$*" in
  "api user --jq .login") echo me ;;
  "api users/me --jq .id") echo 1001 ;;
  "api users/alice --jq .id") echo 1002 ;;
  "api repos/me/repo/rulesets --jq "*'"release tags"'*) echo "$EXISTING_RULESET" ;;
  "api repos/me/repo/rulesets --jq "*'"main branch"'*) echo "$EXISTING_MAIN_RULESET" ;;
  "api repos/me/repo/environments/production/deployment-branch-policies --jq "*) echo "$EXISTING_POLICY" ;;
  "api --method "*) echo '{}' ;;
  *) echo "unexpected: $*" >&2; exit 3 ;;
esac
"""


def run(tmp_path: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    environ = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "GH_LOG": str(tmp_path / "gh.log"),
               "EXISTING_RULESET": "", "EXISTING_MAIN_RULESET": "", "EXISTING_POLICY": "", **env}  # fmt: skip
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=environ, timeout=60)


def calls(tmp_path: Path) -> list[tuple[str, dict | None]]:
    """(the gh arguments, the JSON body) of each call."""
    log = tmp_path / "gh.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(args, json.loads(body) if body else None) for args, body in (line.split("\t", 1) for line in lines)]


def writes_in_order(tmp_path: Path) -> list[tuple[str, dict]]:
    return [(args, body) for args, body in calls(tmp_path) if args.startswith("api --method ")]


def writes(tmp_path: Path) -> dict[str, dict]:
    return {args: body for args, body in calls(tmp_path) if args.startswith("api --method ")}


def test_a_fresh_repository_gets_the_ruleset_and_the_environment(tmp_path: Path) -> None:
    result = run(tmp_path, ["--github-repo", "me/repo"])
    assert result.returncode == 0, result.stderr
    assert [args for args, _ in writes_in_order(tmp_path)] == [
        "api --method POST repos/me/repo/rulesets --input -",
        "api --method POST repos/me/repo/rulesets --input -",
        "api --method PUT repos/me/repo/environments/production --input -",
        "api --method POST repos/me/repo/environments/production/deployment-branch-policies --input -",
    ]
    ruleset, _main, environment, policy = (body for _, body in writes_in_order(tmp_path))
    assert ruleset["target"] == "tag" and ruleset["enforcement"] == "active"
    assert ruleset["conditions"]["ref_name"]["include"] == ["refs/tags/v*"]
    assert {rule["type"] for rule in ruleset["rules"]} == {"creation", "update", "deletion", "non_fast_forward"}
    assert {(a["actor_type"], a["actor_id"]) for a in ruleset["bypass_actors"]} == {
        ("RepositoryRole", 5),  # admin
        ("RepositoryRole", 2),  # maintain
    }
    assert environment == {
        "prevent_self_review": True,  # whoever pushed the tag cannot approve its deploy
        "reviewers": [{"type": "User", "id": 1001}],  # the logged-in user
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    }
    assert policy == {"name": "v*", "type": "tag"}


def test_named_reviewers_are_required_instead_of_the_logged_in_user(tmp_path: Path) -> None:
    assert run(tmp_path, ["--github-repo", "me/repo", "--reviewer", "alice", "--reviewer", "me"]).returncode == 0
    environment = writes(tmp_path)["api --method PUT repos/me/repo/environments/production --input -"]
    assert environment["reviewers"] == [{"type": "User", "id": 1002}, {"type": "User", "id": 1001}]
    assert "api user --jq .login" not in [args for args, _ in calls(tmp_path)]


def test_run_again_it_updates_the_ruleset_and_adds_no_second_policy(tmp_path: Path) -> None:
    result = run(
        tmp_path, ["--github-repo", "me/repo"], EXISTING_RULESET="77", EXISTING_MAIN_RULESET="78", EXISTING_POLICY="5"
    )
    assert result.returncode == 0, result.stderr
    assert list(writes(tmp_path)) == [
        "api --method PUT repos/me/repo/rulesets/77 --input -",
        "api --method PUT repos/me/repo/rulesets/78 --input -",
        "api --method PUT repos/me/repo/environments/production --input -",
    ]


def test_the_dry_run_calls_no_gh_and_shows_what_it_would_send(tmp_path: Path) -> None:
    result = run(tmp_path, ["--github-repo", "me/repo", "--reviewer", "alice", "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == []
    assert (
        "plan:    tag ruleset 'release tags': only admins and maintainers create, move or delete v* tags"
        in result.stdout
    )
    assert (
        "plan:    environment production: waits for a review by alice, never by whoever started the run"
        in result.stdout
    )
    assert "plan:    environment production: only v* tags may deploy" in result.stdout
    assert '"include": ["refs/tags/v*"]' in result.stderr and '{"name": "v*", "type": "tag"}' in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--github-repo", "me/repo' || true"], "is not owner/name"),
        (["--github-repo", "me/repo", "--reviewer", "a b"], "is not a GitHub login"),
        (["--github-repo", "me/repo", "--reviewer", '1, "type": "Team'], "is not a GitHub login"),
        (["--github-repo", "me/repo", "--bogus"], "unknown argument"),
    ],
)
def test_bad_values_are_refused_before_gh_is_called(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(tmp_path, args)
    assert result.returncode == 2 and message in result.stderr
    assert calls(tmp_path) == []


def test_an_unknown_reviewer_stops_before_the_environment_is_changed(tmp_path: Path) -> None:
    result = run(tmp_path, ["--github-repo", "me/repo", "--reviewer", "nobody"])
    assert result.returncode == 2 and "could not look up the reviewers nobody" in result.stderr
    assert not any("environments/production --input" in args for args in writes(tmp_path))


def pr_check_names() -> set[str]:
    """The check runs pr.yml reports: one per job, named by the job's `name:`."""
    jobs = yaml.safe_load(PR_WORKFLOW.read_text())["jobs"]
    return {job.get("name", job_id) for job_id, job in jobs.items()}


def main_ruleset(tmp_path: Path) -> dict:
    (body,) = [body for args, body in writes_in_order(tmp_path) if "/rulesets" in args and body["target"] == "branch"]
    return body


def test_main_gets_a_ruleset_requiring_a_reviewed_pull_request_and_every_pr_check(tmp_path: Path) -> None:
    """The release guard and the training identity trust refs/heads/main: nothing reaches it unreviewed."""
    assert run(tmp_path, ["--github-repo", "me/repo"]).returncode == 0, (tmp_path / "gh.log").read_text()
    ruleset = main_ruleset(tmp_path)
    assert ruleset["name"] == "main branch" and ruleset["enforcement"] == "active"
    assert ruleset["conditions"]["ref_name"] == {"include": ["refs/heads/main"], "exclude": []}
    assert ruleset.get("bypass_actors", []) == []  # not even admins push to main without a review
    rules = {rule["type"]: rule.get("parameters") for rule in ruleset["rules"]}
    assert set(rules) == {"pull_request", "required_status_checks", "non_fast_forward", "deletion"}
    review = rules["pull_request"]
    assert review["required_approving_review_count"] >= 1
    assert review["dismiss_stale_reviews_on_push"] is True and review["require_last_push_approval"] is True
    checks = rules["required_status_checks"]["required_status_checks"]
    assert {check["context"] for check in checks} == pr_check_names()
    assert {check["integration_id"] for check in checks} == {GITHUB_ACTIONS_APP_ID}
    assert rules["required_status_checks"]["strict_required_status_checks_policy"] is True


def test_run_again_it_updates_the_main_ruleset_in_place(tmp_path: Path) -> None:
    assert run(tmp_path, ["--github-repo", "me/repo"], EXISTING_MAIN_RULESET="78").returncode == 0
    assert "api --method PUT repos/me/repo/rulesets/78 --input -" in writes(tmp_path)
    posted = [
        args for args, _ in writes_in_order(tmp_path) if args == "api --method POST repos/me/repo/rulesets --input -"
    ]
    assert len(posted) == 1  # the tag ruleset, which did not exist


def test_the_dry_run_plan_shows_the_main_ruleset(tmp_path: Path) -> None:
    result = run(tmp_path, ["--github-repo", "me/repo", "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert (
        "plan:    branch ruleset 'main branch': main changes only by a pull request with an approving review "
        f"and the checks {', '.join(sorted(pr_check_names()))}; no force-push, no deletion"
    ) in result.stdout
    assert '"include": ["refs/heads/main"]' in result.stderr
