"""scripts/bootstrap_gcp.sh: input checks, describe-or-create, the two identities and who may use each.

Google Cloud is out of reach here, so `gcloud` is a recording stand-in on PATH: it logs each call and
answers `describe` with success only for the resources listed in $EXISTING; billing and Vertex AI's CPU quotas
answer what $BILLING and $QUOTAS (csv lines region,limit) say.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bootstrap_gcp.sh"
ARGS = [
    "--project",
    "my-proj-1",
    "--region",
    "us-central1",
    "--bucket",
    "gs://my-bucket",
    "--github-repo",
    "me/repo",
]
TRAIN_SA = "mnist-train@my-proj-1.iam.gserviceaccount.com"
DEPLOY_SA = "mnist-deploy@my-proj-1.iam.gserviceaccount.com"
POOLS = "projects/123456789/locations/global/workloadIdentityPools"
PROVIDER = "providers/github-actions"
WORKFLOWS = ROOT / ".github" / "workflows"
# Who may sign in as which account, as GitHub's OIDC token states it (job_workflow_ref: file@ref of the job).
# The repository and its owner by id, not name (a deleted name can be registered again by someone else):
# google-github-actions/auth's security considerations. The fake gh answers id 4242, owner id 99.
REPO_ID, OWNER_ID = "4242", "99"
IDS = f"assertion.repository_id == '{REPO_ID}' && assertion.repository_owner_id == '{OWNER_ID}'"
TRAIN_CONDITION = (
    f"{IDS} && assertion.ref == 'refs/heads/main' && "
    "assertion.job_workflow_ref == 'me/repo/.github/workflows/train.yml@refs/heads/main'"
)
DEPLOY_CONDITION = (
    f"{IDS} && assertion.environment == 'production' && "
    "assertion.ref.startsWith('refs/tags/v') && "
    "(assertion.job_workflow_ref.startsWith('me/repo/.github/workflows/release.yml@refs/tags/v') || "
    "assertion.job_workflow_ref.startsWith('me/repo/.github/workflows/rollback.yml@refs/tags/v'))"
)
FAKE_GH = """#!/usr/bin/env bash
case "$*" in
  "api repos/me/repo --jq .id") echo "${FAKE_REPO_ID-4242}" ;;
  "api repos/me/repo --jq .owner.id") echo 99 ;;
  *) echo "gh: not found: $*" >&2; exit 1 ;;
esac
"""
FAKE_GCLOUD = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$GCLOUD_LOG"
case "$*" in
  *" billing projects describe "*) echo "${BILLING-True}" ;;
  *" services quota list "*) printf '%b\\n' "${QUOTAS-us-central1,16}" ;;
  *" projects describe "*) echo 123456789 ;;
  *" describe "*) for name in $EXISTING; do [[ "$* " == *" describe $name "* ]] && exit 0; done; exit 1 ;;
esac
"""


def run(tmp_path: Path, args: list[str], existing: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(FAKE_GCLOUD)
    gcloud.chmod(0o755)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    environ = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GCLOUD_LOG": str(tmp_path / "calls.log"),
        "EXISTING": existing,
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=environ, timeout=60)


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_bootstrap_without_arguments_prints_usage_and_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, [])
    assert result.returncode == 2
    assert "--github-repo" in result.stderr and calls(tmp_path) == []


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--github-repo", "me/repo' || true || '", "is not owner/name"),
        ("--project", "Bad_Project", "is not a project id"),
        ("--region", "moon", "is not a region"),
        ("--bucket", "UPPER", "is not a bucket name"),
    ],
)
def test_bootstrap_refuses_a_bad_value_before_calling_gcloud(
    tmp_path: Path, flag: str, value: str, message: str
) -> None:
    args = list(ARGS)
    args[args.index(flag) + 1] = value
    result = run(tmp_path, args)
    assert result.returncode == 2 and message in result.stderr
    assert calls(tmp_path) == []


def test_bootstrap_creates_every_resource_on_a_fresh_project(tmp_path: Path) -> None:
    result = run(tmp_path, ARGS)
    assert result.returncode == 0, result.stderr
    made = [c for c in calls(tmp_path) if " create" in c]
    assert len(made) == 9, made  # bucket, repository, training's role, per identity: service account, pool, provider
    assert "--location us-central1" in next(c for c in made if "buckets create gs://my-bucket" in c)
    for pool, condition in (("github-train", TRAIN_CONDITION), ("github-deploy", DEPLOY_CONDITION)):
        (provider,) = [c for c in made if "create-oidc" in c and f"--workload-identity-pool {pool} " in c]
        assert f"--attribute-condition {condition} " in provider
        assert "--issuer-uri https://token.actions.githubusercontent.com" in provider


def bindings_of(log: list[str], member: str) -> list[str]:
    """The roles granted to `member`, sorted."""
    granted = [c for c in log if "add-iam-policy-binding" in c and f"--member {member} " in f"{c} "]
    return sorted(c.split("--role ")[1].split()[0] for c in granted)


def test_each_account_gets_only_its_own_roles(tmp_path: Path) -> None:
    assert run(tmp_path, ARGS).returncode == 0
    log = calls(tmp_path)
    assert bindings_of(log, f"serviceAccount:{TRAIN_SA}") == [
        "projects/my-proj-1/roles/mnistTrainer",
        "roles/artifactregistry.writer",
        "roles/storage.objectAdmin",
    ]
    assert bindings_of(log, f"serviceAccount:{DEPLOY_SA}") == ["roles/aiplatform.user", "roles/storage.objectViewer"]


def test_each_pool_may_act_only_as_its_own_account(tmp_path: Path) -> None:
    assert run(tmp_path, ARGS).returncode == 0
    impersonation = [c for c in calls(tmp_path) if "roles/iam.workloadIdentityUser" in c]
    assert len(impersonation) == 2
    for sa, pool in ((TRAIN_SA, "github-train"), (DEPLOY_SA, "github-deploy")):
        (binding,) = [c for c in impersonation if f"add-iam-policy-binding {sa} " in c]
        assert (
            f"--member principalSet://iam.googleapis.com/{POOLS}/{pool}/attribute.repository_id/{REPO_ID} "
            in f"{binding} "
        )


def test_bootstrap_run_twice_creates_nothing_and_brings_both_conditions_up_to_date(tmp_path: Path) -> None:
    existing = f"gs://my-bucket mlops {TRAIN_SA} {DEPLOY_SA} github-train github-deploy github-actions mnistTrainer"
    result = run(tmp_path, ARGS, existing=existing)
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls(tmp_path) if " create" in c]
    assert result.stdout.count("exists:") == 7 and result.stdout.count("updated: OIDC provider") == 2
    updates = [c for c in calls(tmp_path) if "providers update-oidc" in c]
    assert any(f"--attribute-condition {TRAIN_CONDITION} " in f"{c} " for c in updates)
    assert any(f"--attribute-condition {DEPLOY_CONDITION} " in f"{c} " for c in updates)
    removed = [c for c in calls(tmp_path) if "remove-iam-policy-binding" in c]
    for sa, pool in ((TRAIN_SA, "github-train"), (DEPLOY_SA, "github-deploy")):  # the name-based binding goes
        (removal,) = [c for c in removed if f"remove-iam-policy-binding {sa} " in c]
        assert removal.endswith(
            f"--member principalSet://iam.googleapis.com/{POOLS}/{pool}/attribute.repository/me/repo"
        )


def test_bootstrap_prints_the_github_variables_to_set(tmp_path: Path) -> None:
    result = run(tmp_path, ARGS)
    for line in (
        "gh variable set GCP_PROJECT --repo me/repo --body my-proj-1",
        "gh variable set GCS_BUCKET --repo me/repo --body my-bucket",
        f"gh variable set GCP_TRAIN_WORKLOAD_IDENTITY_PROVIDER --repo me/repo --body {POOLS}/github-train/{PROVIDER}",
        f"gh variable set GCP_TRAIN_SERVICE_ACCOUNT --repo me/repo --body {TRAIN_SA}",
        f"gh variable set GCP_DEPLOY_WORKLOAD_IDENTITY_PROVIDER --repo me/repo --body {POOLS}/github-deploy/{PROVIDER}",
        f"gh variable set GCP_DEPLOY_SERVICE_ACCOUNT --repo me/repo --body {DEPLOY_SA}",
    ):
        assert line in result.stdout


def test_bootstrap_with_a_runtime_account_lets_only_training_act_as_it(tmp_path: Path) -> None:
    runtime = "trainer@my-proj-1.iam.gserviceaccount.com"
    assert run(tmp_path, ARGS, RUNTIME_SA=runtime).returncode == 0
    (binding,) = [c for c in calls(tmp_path) if f"add-iam-policy-binding {runtime} " in c]
    assert f"--member serviceAccount:{TRAIN_SA} " in binding and "roles/iam.serviceAccountUser" in binding


def test_bootstrap_dry_run_calls_no_gcloud(tmp_path: Path) -> None:
    result = run(tmp_path, [*ARGS, "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == []
    assert result.stderr.count("+ gcloud iam workload-identity-pools providers create-oidc") == 2


def test_the_dry_run_plan_shows_two_identities_and_who_may_use_each(tmp_path: Path) -> None:
    plan = run(tmp_path, [*ARGS, "--dry-run"]).stdout
    assert f"plan:    create training service account {TRAIN_SA} unless it exists" in plan
    assert f"plan:    create deploying service account {DEPLOY_SA} unless it exists" in plan
    assert f"plan:      training tokens accepted only when: {TRAIN_CONDITION}\n" in plan
    assert f"plan:      deploying tokens accepted only when: {DEPLOY_CONDITION}\n" in plan
    assert f"plan:    grant pool github-train's tokens from me/repo the right to act as {TRAIN_SA}" in plan
    assert f"plan:    grant pool github-deploy's tokens from me/repo the right to act as {DEPLOY_SA}" in plan
    assert f"training   {TRAIN_SA}   train.yml on refs/heads/main" in plan
    assert f"deploying  {DEPLOY_SA}   environment production, release.yml or rollback.yml on a v* tag" in plan


def test_the_conditions_name_the_workflows_that_use_each_account() -> None:
    """The workflow files, refs and environment the conditions admit are the ones that sign in as the account."""
    workflows_dir = WORKFLOWS
    train = (workflows_dir / "train.yml").read_text()
    assert "GCP_TRAIN_SERVICE_ACCOUNT" in train and "branches: [main]" in train
    for name in ("release.yml", "rollback.yml"):
        text = (workflows_dir / name).read_text()
        assert "GCP_DEPLOY_SERVICE_ACCOUNT" in text and "environment: production" in text
    users = {p.name for p in workflows_dir.glob("*.yml") if "SERVICE_ACCOUNT" in p.read_text()}
    assert users == {"train.yml", "release.yml", "rollback.yml"}


# What train.yml's steps need as the training identity (submit_training, gate, register), and nothing more:
# no models.update, which would let it move the `production` alias (register gives `candidate` at upload).
TRAINING_PERMISSIONS = {
    "aiplatform.customJobs.create", "aiplatform.customJobs.get", "aiplatform.customJobs.list",
    "aiplatform.customJobs.cancel", "aiplatform.models.upload", "aiplatform.models.get", "aiplatform.models.list",
}  # fmt: skip


def role_permissions(call: str) -> set[str]:
    return set(call.split("--permissions ")[1].split()[0].split(","))


@pytest.mark.parametrize("existing", ["", "mnistTrainer"])
def test_the_training_role_holds_what_training_needs_and_nothing_that_touches_an_endpoint(
    tmp_path: Path, existing: str
) -> None:
    assert run(tmp_path, ARGS, existing=existing).returncode == 0
    verb = "update" if existing else "create"
    (written,) = [c for c in calls(tmp_path) if f"iam roles {verb} mnistTrainer " in c]
    assert role_permissions(written) == TRAINING_PERMISSIONS
    assert not [p for p in role_permissions(written) if p.startswith("aiplatform.endpoints.")]
    assert "--stage GA" in written or verb == "update"


def test_the_training_identity_holds_no_predefined_vertex_role(tmp_path: Path) -> None:
    assert run(tmp_path, ARGS).returncode == 0
    trained = bindings_of(calls(tmp_path), f"serviceAccount:{TRAIN_SA}")
    assert not [role for role in trained if role.startswith("roles/aiplatform.")]


def test_the_dry_run_plan_lists_the_training_roles_permissions(tmp_path: Path) -> None:
    plan = run(tmp_path, [*ARGS, "--dry-run"]).stdout
    (line,) = [line for line in plan.splitlines() if "role mnistTrainer permits only:" in line]
    assert set(line.split("permits only: ")[1].split()) == TRAINING_PERMISSIONS


def test_a_project_without_billing_stops_before_anything_is_enabled(tmp_path: Path) -> None:
    result = run(tmp_path, ARGS, BILLING="False")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("bootstrap_gcp: billing is not enabled on project my-proj-1")
    assert not [c for c in calls(tmp_path) if "services enable" in c or " create" in c]


@pytest.mark.parametrize(
    ("quotas", "missing"),
    [
        ("us-central1,0\\n,8", "custom_model_training_cpus in us-central1 is 0 vCPUs, the pipeline needs 4"),
        ("europe-west4,100\\n,4", "custom_model_serving_cpus in us-central1 is 4 vCPUs, the pipeline needs 8"),
    ],
)
def test_a_missing_regional_quota_stops_with_one_line_naming_it(tmp_path: Path, quotas: str, missing: str) -> None:
    result = run(tmp_path, ARGS, QUOTAS=quotas)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("bootstrap_gcp:")]
    assert f"quota aiplatform.googleapis.com/{missing}" in line
    assert not [c for c in calls(tmp_path) if " create" in c]


def test_the_regions_own_quota_wins_over_the_default_and_unlimited_passes(tmp_path: Path) -> None:
    result = run(tmp_path, ARGS, QUOTAS="us-central1,-1\\n,0")
    assert result.returncode == 0, result.stderr
    assert "checked: quota custom_model_serving_cpus in us-central1 is unlimited (needs 8 vCPUs)" in result.stdout


def test_the_bucket_and_repository_get_cleanup_rules_shown_in_the_dry_run(tmp_path: Path) -> None:
    plan = run(tmp_path, [*ARGS, "--dry-run"], RUNS_MAX_AGE_DAYS="90").stdout
    lifecycle = next(line for line in plan.splitlines() if line.startswith("plan:    set lifecycle of gs://my-bucket"))
    rules = json.loads(lifecycle.split(": ", 2)[2].split("after 30 days: ", 1)[1])["rule"]
    assert rules == [
        {"action": {"type": "Delete"}, "condition": {"age": 90, "matchesPrefix": ["runs/"]}},
        {"action": {"type": "Delete"}, "condition": {"age": 30, "matchesPrefix": ["batch/"]}},
    ]
    policy = next(line for line in plan.splitlines() if line.startswith("plan:    set cleanup policy of mlops"))
    kept = json.loads(policy.split("older than 30d: ", 1)[1])
    assert [rule["action"]["type"] for rule in kept] == ["Keep", "Keep", "Delete"]
    assert kept[0]["mostRecentVersions"]["keepCount"] == 10 and kept[1]["condition"]["tagPrefixes"] == ["keep-"]
    assert "plan:    check that billing is enabled on my-proj-1 (stop if not)" in plan


def test_the_real_run_sets_both_cleanup_rules(tmp_path: Path) -> None:
    assert run(tmp_path, ARGS).returncode == 0
    log = calls(tmp_path)
    assert any("storage buckets update gs://my-bucket --lifecycle-file " in c for c in log)
    assert any("artifacts repositories set-cleanup-policies mlops --location us-central1 --policy " in c for c in log)


def test_the_providers_map_the_repository_and_owner_ids(tmp_path: Path) -> None:
    assert run(tmp_path, ARGS).returncode == 0
    providers = [c for c in calls(tmp_path) if "create-oidc" in c]
    assert len(providers) == 2
    for provider in providers:
        mapping = provider.split("--attribute-mapping ")[1].split()[0].split(",")
        assert "attribute.repository_id=assertion.repository_id" in mapping
        assert "attribute.repository_owner_id=assertion.repository_owner_id" in mapping
        assert "assertion.repository ==" not in provider  # a name alone is not who the repository is


@pytest.mark.parametrize("answer", ["", "not-a-number", "1' || true || '1"])
def test_a_repository_id_github_does_not_answer_with_digits_stops_before_gcloud(tmp_path: Path, answer: str) -> None:
    result = run(tmp_path, ARGS, FAKE_REPO_ID=answer)
    assert result.returncode == 2 and "repository id" in result.stderr
    assert calls(tmp_path) == []


def test_the_ids_can_be_given_without_gh(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    env = {"GITHUB_REPO_ID": "777", "GITHUB_OWNER_ID": "55"}
    result = run(tmp_path, [*ARGS, "--dry-run"], FAKE_REPO_ID="0", **env)
    assert result.returncode == 0, result.stderr
    assert "assertion.repository_id == '777' && assertion.repository_owner_id == '55'" in result.stdout
