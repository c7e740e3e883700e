"""serve --staging-bucket: the profile's staging bucket exists once the server answers, as bootstrap_gcp.sh makes
it in the cloud; jobs and uploads need it, since vertex-local (like Cloud Storage) creates no bucket by itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from tests.support.vertex_local_server import free_port
from vertex_local import daemon


@pytest.fixture
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local profile as pipeline.toml has it: no PIPELINE_* override another test's session left set."""
    for name in [key for key in os.environ if key.startswith("PIPELINE_")]:
        monkeypatch.delenv(name)


@pytest.mark.live
def test_start_with_staging_bucket_creates_the_profiles_bucket_in_its_region_once(
    tmp_path: Path, plain_environment: None
) -> None:
    port, state_dir = free_port(), tmp_path / "state"
    url = f"http://127.0.0.1:{port}"
    flags = ["--profile", "local", "--staging-bucket"]
    try:
        assert daemon.start("127.0.0.1", port, state_dir, flags) == 0
        bucket = requests.get(f"{url}/storage/v1/b/local-bucket", timeout=10)
        assert bucket.status_code == 200, bucket.text
        assert bucket.json()["location"] == "US-CENTRAL1"
        daemon.stop(state_dir)
        assert daemon.start("127.0.0.1", port, state_dir, flags) == 0  # already there: a restart is fine
        assert requests.get(f"{url}/storage/v1/b/local-bucket", timeout=10).status_code == 200
    finally:
        daemon.stop(state_dir)


@pytest.mark.live
def test_without_the_flag_no_bucket_appears(tmp_path: Path, plain_environment: None) -> None:
    port, state_dir = free_port(), tmp_path / "state"
    try:
        assert daemon.start("127.0.0.1", port, state_dir) == 0
        assert requests.get(f"http://127.0.0.1:{port}/storage/v1/b/local-bucket", timeout=10).status_code == 404
    finally:
        daemon.stop(state_dir)
