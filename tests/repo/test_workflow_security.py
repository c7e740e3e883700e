"""The workflows' security rules: pinned actions, least privilege, timeouts, a fork-safe comment job, one cloud
identity per purpose, and a release path that only reviewed, registered code takes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scripts.github.comment_text import MARKER as COMMENT_MARKER
from scripts.github.report_artifact import ARTIFACT, PR_NUMBER_FILE, REPORT_FILE
from scripts.report import MARKER
from scripts.report import PR_NUMBER_FILE as SCRIPTS_PR_NUMBER_FILE

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


def test_the_comment_workflow_runs_only_its_own_code_and_unpacks_nothing(workflows: dict) -> None:
    workflow = workflows["report-comment.yml"]
    assert list(workflow["on"]) == ["workflow_run"]
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "contents": "read", "pull-requests": "write"}
    checkout, python, post = job["steps"]
    # No ref or repository: a workflow_run checks out the default branch, never the pull request's code.
    assert checkout["uses"].startswith("actions/checkout@") and set(checkout["with"]) == {"persist-credentials"}
    assert python["uses"].startswith("actions/setup-python@") and "cache" not in python["with"]
    # The artifact is read in memory by this step; no action (whose code an archive could overwrite) runs after.
    assert "uses" not in post and post["run"].startswith("python -m scripts.pr_comment ")


def test_the_comment_step_gets_the_event_from_github_and_nothing_from_the_pull_request(workflows: dict) -> None:
    (job,) = workflows["report-comment.yml"]["jobs"].values()
    env = job["steps"][-1]["env"]
    assert env.pop("GH_TOKEN") == "${{ github.token }}"
    assert all(value.startswith("${{ github.event.workflow_run.") for value in env.values()), env


def test_the_comment_workflow_reads_what_pr_yml_uploads(workflows: dict) -> None:
    comment = workflows["report-comment.yml"]
    assert comment["on"]["workflow_run"]["workflows"] == [workflows["pr.yml"]["name"]]
    uploads = {step["with"]["name"]: step for _, step in steps(workflows["pr.yml"]) if "upload" in step.get("uses", "")}
    assert uploads[ARTIFACT]["with"]["path"] == "out/report/"
    (report_step,) = [step for _, step in steps(workflows["pr.yml"]) if step.get("name") == "Report"]
    assert "--output out/report/report.md" in report_step["run"] and "--pr-number" in report_step["run"]
    assert (REPORT_FILE, PR_NUMBER_FILE) == ("report.md", SCRIPTS_PR_NUMBER_FILE)  # nothing else lands there
    assert MARKER == COMMENT_MARKER


def test_no_cache_written_by_other_runs_feeds_the_image_build_on_main(workflows: dict) -> None:
    train = workflows["train.yml"]
    for _, step in steps(train):
        options = step.get("with", {})
        assert "cache" not in options and "cache-from" not in options and "cache-to" not in options, step
    assert "type=gha" not in (WORKFLOWS / "train.yml").read_text(encoding="utf-8")


def test_training_runs_only_for_main(workflows: dict) -> None:
    train = workflows["train.yml"]
    assert train["on"]["push"]["branches"] == ["main"]
    assert train["jobs"]["train"]["if"] == "${{ github.ref == 'refs/heads/main' }}"


def auth_inputs(job: dict[str, Any]) -> dict[str, str]:
    (auth,) = [s for s in job["steps"] if s.get("uses", "").startswith("google-github-actions/auth@")]
    return auth["with"]


def test_each_cloud_job_signs_in_as_its_own_identity(workflows: dict) -> None:
    train = auth_inputs(workflows["train.yml"]["jobs"]["train"])
    assert train["workload_identity_provider"] == "${{ vars.GCP_TRAIN_WORKLOAD_IDENTITY_PROVIDER }}"
    assert train["service_account"] == "${{ vars.GCP_TRAIN_SERVICE_ACCOUNT }}"
    for name, job_id in (("release.yml", "deploy"), ("rollback.yml", "rollback")):
        job = workflows[name]["jobs"][job_id]
        assert job["environment"] == "production", name
        deploy = auth_inputs(job)
        assert deploy["workload_identity_provider"] == "${{ vars.GCP_DEPLOY_WORKLOAD_IDENTITY_PROVIDER }}", name
        assert deploy["service_account"] == "${{ vars.GCP_DEPLOY_SERVICE_ACCOUNT }}", name


def test_a_release_is_guarded_and_its_write_token_runs_none_of_the_tagged_commits_code(workflows: dict) -> None:
    jobs = workflows["release.yml"]["jobs"]
    guard, deploy, release = jobs["guard"], jobs["deploy"], jobs["release"]
    assert deploy["needs"] == "guard" and release["needs"] == "deploy"
    assert guard["permissions"] == {"contents": "read", "actions": "read"} and "environment" not in guard
    guard_checkout = guard["steps"][0]["with"]
    assert guard_checkout["ref"] == "main" and guard_checkout["fetch-depth"] == 0
    assert guard["steps"][-1]["run"].startswith('python -m scripts.release_guard --commit "$GITHUB_SHA"')
    writers = [job_id for job_id, job in jobs.items() if "write" in job["permissions"].get("contents", "")]
    assert writers == ["release"]
    assert release["steps"][0]["uses"].startswith("actions/checkout@") and release["steps"][0]["with"]["ref"] == "main"
    runs = [step["run"] for step in release["steps"] if "run" in step]
    assert len(runs) == 1 and runs[0].startswith("python -m scripts.release_card publish")


def test_the_trainer_image_job_builds_and_trains_with_a_read_only_token(workflows: dict) -> None:
    job = workflows["pr.yml"]["jobs"]["trainer-image"]
    assert job["name"] == "Trainer image" and job["permissions"] == {"contents": "read"}
    runs = [(step["run"], step.get("if")) for step in job["steps"] if "run" in step]
    assert runs == [("make trainer-image-check", None), ("make down", "${{ always() }}")]


def test_pull_requests_need_no_secrets_or_cloud_variables(workflows: dict) -> None:
    text = (WORKFLOWS / "pr.yml").read_text(encoding="utf-8")
    assert "secrets." not in text and "vars." not in text
    assert "pull_request_target" not in "".join(p.read_text() for p in WORKFLOWS.glob("*.yml"))


def test_every_variable_the_workflows_read_is_documented_in_the_cloud_setup_page() -> None:
    section = (ROOT / "docs" / "cloud-setup.md").read_text(encoding="utf-8")
    used = set()
    for path in WORKFLOWS.glob("*.yml"):
        used |= set(re.findall(r"\bvars\.([A-Z0-9_]+)", path.read_text(encoding="utf-8")))
    assert used, "the cloud workflows read no repository variables"
    for name in sorted(used):
        assert f"`{name}`" in section, f"docs/cloud-setup.md does not document {name}"


def named_steps(job: dict[str, Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    return {step["name"]: (index, step) for index, step in enumerate(job["steps"]) if "name" in step}


def test_pull_requests_seed_production_from_the_release_with_the_read_only_token_before_the_gate(
    workflows: dict,
) -> None:
    job = workflows["pr.yml"]["jobs"]["pipeline"]
    assert job["permissions"] == {"contents": "read"} and "environment" not in job
    found = named_steps(job)
    seed_at, seed = found["Seed production from the latest Release"]
    assert found["Start vertex-local"][0] < seed_at < found["Train"][0] < found["Gate"][0]
    assert seed["env"] == {"GH_TOKEN": "${{ github.token }}"} and seed["id"] == "seed" and "if" not in seed
    assert seed["run"].startswith(".venv/bin/python -m scripts.seed_production --profile local ")
    _, report = found["Report"]
    assert report["env"]["BASELINE_UNAVAILABLE"] == "${{ steps.seed.outputs.unavailable }}"
    assert '--baseline-unavailable "$BASELINE_UNAVAILABLE"' in report["run"]


def test_train_yml_keeps_the_gates_verdict_beside_every_model_it_registers(workflows: dict) -> None:
    found = named_steps(workflows["train.yml"]["jobs"]["train"])
    keep_at, keep = found["Keep the verdict with the model"]
    assert found["Gate"][0] < keep_at < found["Register"][0] and "if" not in keep  # only after a pass
    assert keep["run"].startswith('.venv/bin/python -m scripts.keep_verdict --profile gcp --model-dir "$MODEL_DIR"')


def test_a_release_fetches_the_verdict_and_packs_the_model_before_it_deploys(workflows: dict) -> None:
    jobs = workflows["release.yml"]["jobs"]
    found = named_steps(jobs["deploy"])
    fetch_at, fetch = found["Fetch the tagged commit's model and the gate's verdict"]
    assert fetch_at < found["Deploy the tagged commit's model"][0]
    assert "--verdict-dest out/verdict" in fetch["run"] and "--archive out/card/model.tar.gz" in fetch["run"]
    assert "--verdict out/verdict/gate.json" in found["Model card"][1]["run"]
    assert found["Upload the model card"][1]["with"]["path"] == "out/card/"
    publish = jobs["release"]["steps"][-1]["run"]
    assert '--model "$CARD/model.tar.gz"' in publish and '--plots-dir "$CARD"' in publish


def test_train_yml_pushes_the_serving_image_beside_the_trainer_image_with_the_same_tag(workflows: dict) -> None:
    builds = [step for _, step in steps(workflows["train.yml"]) if step.get("uses", "").startswith("docker/build-push")]
    trainer, serving = (step["with"] for step in builds)
    assert trainer["tags"] == "${{ steps.image.outputs.image }}" and "file" not in trainer
    assert serving["tags"] == "${{ steps.image.outputs.serving_image }}" and serving["file"] == "serving.Dockerfile"
    assert serving["push"] is True and serving["context"] == "."
