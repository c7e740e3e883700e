"""The workflows' security rules: pinned actions, least privilege, timeouts, and a fork-safe comment job."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scripts.report import MARKER, PR_NUMBER_FILE

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^\s*(?:-\s*)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+){0,2}\s*$")


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version_in_a_comment() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.match(r"^\s*(?:-\s*)?uses:", line):
                assert PINNED.match(line), f"{path.name}:{number}: pin by SHA with '# vX.Y.Z': {line.strip()}"


def test_workflows_grant_nothing_by_default_and_each_job_names_its_permissions(workflows: dict) -> None:
    for name, workflow in workflows.items():
        assert workflow.get("permissions") == {}, f"{name}: top-level `permissions: {{}}` expected"
        for job_id, job in workflow["jobs"].items():
            assert isinstance(job.get("permissions"), dict), f"{name} / {job_id}: no job permissions"
            assert isinstance(job.get("timeout-minutes"), int), f"{name} / {job_id}: no timeout-minutes"


def test_only_jobs_that_talk_to_google_cloud_may_ask_for_an_oidc_token(workflows: dict) -> None:
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            uses = [step.get("uses", "") for step in job.get("steps", [])]
            authenticates = any(u.startswith("google-github-actions/auth@") for u in uses)
            asks = job["permissions"].get("id-token") == "write"
            assert asks == authenticates, f"{name} / {job_id}: id-token: write iff it uses auth"


def test_every_checkout_leaves_no_credentials_behind(workflows: dict) -> None:
    checkouts = [
        (name, job_id, step)
        for name, wf in workflows.items()
        for job_id, step in steps(wf)
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert checkouts
    for name, job_id, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{name} / {job_id}"


def test_pull_request_runs_are_superseded_and_deploys_are_never_cancelled(workflows: dict) -> None:
    assert workflows["pr.yml"]["concurrency"]["cancel-in-progress"] is True
    for name in ("release.yml", "rollback.yml"):
        concurrency = workflows[name]["concurrency"]
        assert concurrency == {"group": "deploy-production", "cancel-in-progress": False}, name
        assert all(job.get("environment") in (None, "production") for job in workflows[name]["jobs"].values())


def test_the_comment_workflow_never_checks_out_or_runs_pull_request_code(workflows: dict) -> None:
    workflow = workflows["report-comment.yml"]
    assert list(workflow["on"]) == ["workflow_run"]
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
    assert uses == ["actions/download-artifact", "actions/github-script"]
    assert not any("run" in step for step in job["steps"])


def test_the_comment_workflow_reads_what_pr_yml_uploads(workflows: dict) -> None:
    comment = workflows["report-comment.yml"]
    assert comment["on"]["workflow_run"]["workflows"] == [workflows["pr.yml"]["name"]]
    download, script = comment["jobs"]["comment"]["steps"]
    uploads = [step for _, step in steps(workflows["pr.yml"]) if step.get("uses", "").startswith("actions/upload")]
    assert download["with"]["name"] in [step["with"]["name"] for step in uploads]
    code = script["with"]["script"]
    assert f"'{MARKER}'" in code and PR_NUMBER_FILE in code
    assert "/^[1-9][0-9]{0,9}$/.test(raw)" in code, "the PR number must be checked to be an integer"
    assert "pr.head.sha !== process.env.HEAD_SHA" in code, "the PR must be the one the run was for"


def test_pull_requests_need_no_secrets_or_cloud_variables(workflows: dict) -> None:
    text = (WORKFLOWS / "pr.yml").read_text(encoding="utf-8")
    assert "secrets." not in text and "vars." not in text
    assert "pull_request_target" not in "".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))


def test_every_variable_the_workflows_read_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- gcp:start -->")[1].split("<!-- gcp:end -->")[0]
    used = set()
    for path in WORKFLOWS.glob("*.yml"):
        used |= set(re.findall(r"\bvars\.([A-Z0-9_]+)", path.read_text(encoding="utf-8")))
    assert used, "the cloud workflows read no repository variables"
    for name in sorted(used):
        assert f"`{name}`" in section, f"README's Google Cloud section does not document {name}"
