"""Put a trained model behind a vertex-local endpoint the way users do: the real storage client and SDK.

Used by `python -m benchmarks.bench_serve`: upload the SavedModel to gs://, Model.upload, Endpoint.create,
model.deploy; the result is the endpoint's :predict URL.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline_config import load_config

PROJECT = "bench-project"
LOCATION = "us-central1"
BUCKET = "bench-bucket"


def quiet_sdk() -> None:
    """The SDK's loggers each set level INFO and print progress to stdout; the table is what we want to see."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("google.cloud.aiplatform"):
            logging.getLogger(name).setLevel(logging.WARNING)


def stage_model(url: str, model_dir: Path, prefix: str) -> str:
    """Upload every file of the model directory through the Cloud Storage API; returns its gs:// URI."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": url})
    bucket = client.bucket(BUCKET)
    if not bucket.exists():
        bucket = client.create_bucket(BUCKET)
    for path in sorted(model_dir.rglob("*")):
        if path.is_file():
            bucket.blob(f"{prefix}/model/{path.relative_to(model_dir)}").upload_from_filename(str(path))
    return f"gs://{BUCKET}/{prefix}/model"


def deploy_model(url: str, model_dir: Path) -> str:
    """Upload, register and deploy the model on the vertex-local at `url`; returns the :predict URL."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    quiet_sdk()
    aiplatform.init(
        project=PROJECT,
        location=LOCATION,
        staging_bucket=f"gs://{BUCKET}",
        api_endpoint=url,
        api_transport="rest",
        credentials=AnonymousCredentials(),
    )
    artifact_uri = stage_model(url, model_dir, "bench-serve")
    image = load_config(None).vertex.serving_image_uri("bench")  # the project's serving image, served in-process
    model = aiplatform.Model.upload(
        display_name="bench-serve", artifact_uri=artifact_uri, serving_container_image_uri=image
    )
    endpoint = aiplatform.Endpoint.create(display_name="bench-serve")
    model.deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=100)
    return f"{url}/v1/{endpoint.resource_name}:predict"
