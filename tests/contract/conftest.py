"""The contract suite: how Vertex AI and Cloud Storage behave for this pipeline, one set of tests, two targets.

    make test         runs tests/contract against the session's vertex-local (with everything else)
    make test-cloud   runs the same files against a real project (tests/contract/cloud_run.py asks first):
                      CONTRACT_TARGET=gcp, with PIPELINE_VERTEX_PROJECT, PIPELINE_VERTEX_REGION,
                      PIPELINE_VERTEX_STAGING_BUCKET set and Application Default Credentials
                      (`gcloud auth application-default login`); CONTRACT_IMPERSONATE=SA runs as that account

A contract test talks to `target` only (the SDK through `target.init_sdk()`, storage through
`target.storage_client()`), names what it creates with `target.name(...)`, and registers it with
`target.created(...)` so the session deletes it at the end, on the cloud as locally. Target itself, and what a
cloud run needs, is in tests/support/contract_target.py.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.contract_target import CLOUD_PLAN, Target, cloud_target, own_serving_image, target_kind
from tests.support.vertex_local_server import VertexLocal

CONTRACT_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def contract_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    environ = dict(os.environ)
    prefix = f"contract-{uuid.uuid4().hex[:8]}"
    if target_kind(environ) == "gcp":
        target = cloud_target(environ, prefix)
    else:
        server: VertexLocal = request.getfixturevalue("vertex_local")
        image = own_serving_image(server.project, server.location, "contract")
        target = Target("local", server.project, server.location, server.bucket, prefix, server.url, image)
    yield target
    target.init_sdk()  # the cleanups' SDK calls go to this target, whichever server a later test module pointed it at
    failures = target.close()
    assert not failures, f"contract cleanup failed: {failures}"


@pytest.fixture
def target(contract_target: Target, monkeypatch: pytest.MonkeyPatch) -> Target:
    """The session's target with the SDK initialised against it (and STORAGE_EMULATOR_HOST set locally)."""
    if contract_target.api_endpoint:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", contract_target.api_endpoint)
    contract_target.init_sdk()
    return contract_target


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every contract test talks to a live service: vertex-local here, Google Cloud under make test-cloud.
    A cloud run checks its variables and shows what it will create before any test starts."""
    contract = [item for item in items if item.path.is_relative_to(CONTRACT_DIR)]
    for item in contract:
        item.add_marker(pytest.mark.live)
    environ = dict(os.environ)
    if contract and target_kind(environ) == "gcp":
        plan = CLOUD_PLAN.format(**dataclasses.asdict(cloud_target(environ, "contract-<session id>")))
        config.get_terminal_writer().line("\n" + plan)
