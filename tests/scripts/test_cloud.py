"""scripts/core/cloud.py: JSON from local paths and from gs:// on the session's vertex-local, gs:// URIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_config import load_config
from scripts.core import cloud
from scripts.core.step import StepError
from tests.support.vertex_local_server import VertexLocal


def test_read_json_names_a_missing_or_corrupt_local_file(tmp_path: Path) -> None:
    with pytest.raises(StepError, match="not found"):
        cloud.read_json(str(tmp_path / "metrics.json"), None)  # type: ignore[arg-type]
    (tmp_path / "metrics.json").write_text("{accuracy: 0.9")
    with pytest.raises(StepError, match="not valid JSON"):
        cloud.read_json(str(tmp_path / "metrics.json"), None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "parts"),
    [("gs://b/runs/x/model", ("b", "runs/x/model")), ("gs://b/", None), ("gs://", None), ("/tmp/x", None)],
)
def test_split_gs_uri_wants_a_bucket_and_an_object(uri: str, parts: tuple[str, str] | None) -> None:
    if parts is None:
        with pytest.raises(StepError, match="is not a gs://BUCKET/OBJECT URI"):
            cloud.split_gs_uri(uri)
    else:
        assert cloud.split_gs_uri(uri) == parts


def test_json_round_trips_through_gs_and_a_missing_object_is_not_found(pipeline_env: VertexLocal) -> None:
    client = cloud.storage_client(load_config())
    uri = f"gs://{pipeline_env.bucket}/common-test/metrics.json"
    cloud.write_text(uri, json.dumps({"accuracy": 0.5}), client)
    assert cloud.read_json(uri, client) == {"accuracy": 0.5}
    with pytest.raises(StepError, match="not found"):
        cloud.read_json(f"gs://{pipeline_env.bucket}/common-test/absent.json", client)
