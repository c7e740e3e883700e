"""scripts/bootstrap_gcp.sh: input checks, describe-or-create, and the bindings it makes.

Google Cloud is out of reach here, so `gcloud` is a recording stand-in on PATH: it logs each call and
answers `describe` with success only for the resources listed in $EXISTING.
"""

from __future__ import annotations

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
SA_EMAIL = "github-ci@my-proj-1.iam.gserviceaccount.com"
FAKE_GCLOUD = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$GCLOUD_LOG"
case "$*" in
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
    assert len(made) == 5, made  # bucket, repository, service account, pool, provider
    provider = next(c for c in made if "create-oidc" in c)
    assert "--attribute-condition assertion.repository == 'me/repo'" in provider
    assert "attribute.repository=assertion.repository" in provider
    assert "--location us-central1" in next(c for c in made if "buckets create gs://my-bucket" in c)


def test_bootstrap_grants_only_the_ci_roles_and_repo_scoped_impersonation(tmp_path: Path) -> None:
    assert run(tmp_path, ARGS).returncode == 0
    bindings = [c for c in calls(tmp_path) if "add-iam-policy-binding" in c]
    roles = sorted(c.split("--role ")[1].split()[0] for c in bindings)
    assert roles == [
        "roles/aiplatform.user",
        "roles/artifactregistry.writer",
        "roles/iam.workloadIdentityUser",
        "roles/storage.objectAdmin",
    ]
    principal = "principalSet://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/github"
    assert any(f"{principal}/attribute.repository/me/repo" in c for c in bindings)


def test_bootstrap_run_twice_creates_nothing_the_second_time(tmp_path: Path) -> None:
    existing = f"gs://my-bucket mlops {SA_EMAIL} github github-actions"
    result = run(tmp_path, ARGS, existing=existing)
    assert result.returncode == 0, result.stderr
    assert not [c for c in calls(tmp_path) if " create" in c]
    assert result.stdout.count("exists:") == 5


def test_bootstrap_prints_the_github_variables_to_set(tmp_path: Path) -> None:
    result = run(tmp_path, ARGS)
    provider = "projects/123456789/locations/global/workloadIdentityPools/github/providers/github-actions"
    for line in (
        "gh variable set GCP_PROJECT --repo me/repo --body my-proj-1",
        "gh variable set GCS_BUCKET --repo me/repo --body my-bucket",
        f"gh variable set GCP_WORKLOAD_IDENTITY_PROVIDER --repo me/repo --body {provider}",
        f"gh variable set GCP_SERVICE_ACCOUNT --repo me/repo --body {SA_EMAIL}",
    ):
        assert line in result.stdout


def test_bootstrap_with_a_runtime_account_lets_ci_act_as_it(tmp_path: Path) -> None:
    runtime = "trainer@my-proj-1.iam.gserviceaccount.com"
    assert run(tmp_path, ARGS, RUNTIME_SA=runtime).returncode == 0
    assert any(runtime in c and "roles/iam.serviceAccountUser" in c for c in calls(tmp_path))


def test_bootstrap_dry_run_calls_no_gcloud(tmp_path: Path) -> None:
    result = run(tmp_path, [*ARGS, "--dry-run"])
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path) == []
    assert "+ gcloud iam workload-identity-pools providers create-oidc" in result.stderr
