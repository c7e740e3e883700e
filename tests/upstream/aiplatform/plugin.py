"""conftest.py for google-cloud-aiplatform's own system tests, pointing them at vertex-local (run.py copies it in).

The upstream tests are not changed; this file only supplies what Google's test project has and a laptop has not:
  - the SDK's config (re-created by every test's setup_method) gets vertex-local's URL, REST and anonymous
    credentials, as pipeline.toml's local profile does; storage goes there through STORAGE_EMULATOR_HOST;
  - the staging-bucket fixture creates the bucket without Cloud IAM calls, and the project's number is the one
    vertex-local's buckets report, without a Resource Manager call;
  - the public sample object and the permanent iris endpoint the tests name are created empty in vertex-local
    (the XGBoost file is only registered, never served; the endpoint only has to exist for the module to import);
  - expectations.py's tests are deselected or marked as expected failures, each with its reason.
"""

from __future__ import annotations

import os

import google.auth
import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.aiplatform import initializer
from google.cloud.aiplatform.utils import resource_manager_utils

from tests.system.aiplatform import e2e_base, test_model_upload, vertex_local_expectations

URL = os.environ["VERTEX_LOCAL_URL"]
PROJECT = os.environ["BUILD_SPECIFIC_GCLOUD_PROJECT"]
SAMPLE_MODEL = b"placeholder: the version-management test registers this file, nothing loads it\n"
PERMANENT_ENDPOINT_ID = "4966625964059525120"  # test_model_interactions' _PERMANENT_IRIS_ENDPOINT_ID


def point_sdk_at_vertex_local() -> None:
    config = initializer.global_config
    config._api_endpoint, config._api_transport, config._credentials = URL, "rest", AnonymousCredentials()


def no_google_credentials(*args: object, **kwargs: object) -> tuple:
    return AnonymousCredentials(), PROJECT


def seed_what_googles_project_has() -> str:
    """Create what the tests expect to find; returns the project number vertex-local's buckets report."""
    client = storage.Client(project=PROJECT)
    bucket_name, _, blob_name = test_model_upload._XGBOOST_MODEL_URI.removeprefix("gs://").partition("/")
    bucket = client.bucket(bucket_name)
    if not bucket.exists():
        client.create_bucket(bucket_name)
    bucket.blob(blob_name).upload_from_string(SAMPLE_MODEL)
    endpoints = f"{URL}/v1/projects/{PROJECT}/locations/{e2e_base._LOCATION}/endpoints"
    if requests.get(f"{endpoints}/{PERMANENT_ENDPOINT_ID}", timeout=30).status_code == 404:
        created = requests.post(f"{endpoints}?endpointId={PERMANENT_ENDPOINT_ID}", json={"displayName": "iris"},
                                timeout=30)  # fmt: skip
        created.raise_for_status()
    return str(client.get_bucket(bucket_name).project_number)


google.auth.default = no_google_credentials
point_sdk_at_vertex_local()  # test_model_interactions calls the SDK in its class body, at import
# The SDK compares a staging bucket's projectNumber with the project's before reusing it; Resource Manager is gRPC.
PROJECT_NUMBER = seed_what_googles_project_has()
resource_manager_utils.get_project_number = lambda *args, **kwargs: PROJECT_NUMBER
upstream_setup_method = e2e_base.TestEndToEnd.setup_method


def setup_method(self: e2e_base.TestEndToEnd) -> None:
    upstream_setup_method(self)  # reloads the SDK's modules: a new, empty config
    point_sdk_at_vertex_local()


@pytest.fixture(scope="class")
def prepare_staging_bucket(self: e2e_base.TestEndToEnd, shared_state: dict) -> None:
    name = f"{self._temp_prefix.lower()}-{os.urandom(4).hex()}"[:63]
    client = storage.Client(project=PROJECT)
    shared_state.update(staging_bucket_name=name, storage_client=client, bucket=client.create_bucket(name))


e2e_base.TestEndToEnd.setup_method = setup_method
e2e_base.TestEndToEnd.prepare_staging_bucket = prepare_staging_bucket


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen, dropped = [], []
    for item in items:
        node = item.nodeid.split("tests/system/aiplatform/", 1)[-1]
        if node in vertex_local_expectations.DESELECTED:
            dropped.append(item)
            continue
        reason = vertex_local_expectations.EXPECTED_FAILURES.get(node)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))
        chosen.append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = chosen
