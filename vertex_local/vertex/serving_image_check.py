"""The serving image, deployed through vertex-local, answers as in-process serving does:
python -m vertex_local.vertex.serving_image_check --url URL --image mnist-serving:check --model-dir DIR

`make serving-image-check` (pr.yml's "Serving image" job) builds the image, trains a small model and runs this
against `make up`'s vertex-local, which runs a custom image with `docker run` where a Docker engine answers
(vertex_local/vertex/containers.py). It stages the model in vertex-local's storage, registers it twice (with the
image, and with this repository's serving image name, served in-process), deploys each on its own endpoint through
the real SDK, smoke-tests both with the same images over :predict and :rawPredict, and fails unless every
probability agrees to 1e-6. One line per step; a failure is one stderr line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import requests
from google.api_core.exceptions import GoogleAPICallError

from pipeline_config import Vertex, load_config

TOLERANCE = 1e-6  # the same TensorFlow and the same SavedModel on both sides: only float summation order may differ
DIGITS = 16  # images sent to both deployments: seeded noise in [0, 1], as the model's inputs are
SEED = 20
TIMEOUT_S = 60


class CheckError(Exception):
    """What differs, in one line."""


def stage(url: str, vertex: Vertex, model_dir: Path, prefix: str) -> str:
    """The model's files in the local profile's staging bucket (make up creates it); returns its gs:// URI."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    name = vertex.staging_bucket.removeprefix("gs://").strip("/")
    client = storage.Client(project=vertex.project, credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": url})  # fmt: skip
    bucket = client.bucket(name)
    for path in sorted(model_dir.rglob("*")):
        if path.is_file():
            bucket.blob(f"{prefix}/model/{path.relative_to(model_dir)}").upload_from_filename(str(path))
    return f"gs://{name}/{prefix}/model"


def deploy(image: str, artifact_uri: str, name: str) -> Any:
    """A Model with `image` deployed alone on a new endpoint; the deploy waits for the container's health."""
    from google.cloud import aiplatform

    routes = {"serving_container_predict_route": "/predict", "serving_container_health_route": "/health",
              "serving_container_ports": [8080]}  # fmt: skip
    try:
        model = aiplatform.Model.upload(display_name=name, artifact_uri=artifact_uri,
                                        serving_container_image_uri=image, **routes)  # fmt: skip
        endpoint = aiplatform.Endpoint.create(display_name=name)
        model.deploy(endpoint=endpoint, machine_type="n1-standard-2", traffic_percentage=100)
    except (GoogleAPICallError, RuntimeError) as exc:  # the SDK raises RuntimeError for a failed operation
        raise CheckError(f"deploying with {image} failed: {' '.join(str(exc).split())[:500]}") from None
    return endpoint


def answers(url: str, endpoint: Any, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(:predict through the SDK, :rawPredict over plain HTTP) for the same digits."""
    sdk = np.asarray(endpoint.predict(instances=images.tolist()).predictions, np.float64)
    body = json.dumps({"instances": images.tolist()})
    raw = requests.post(f"{url}/v1/{endpoint.resource_name}:rawPredict", data=body, timeout=TIMEOUT_S,
                        headers={"Content-Type": "application/json"})  # fmt: skip
    if raw.status_code != 200:
        raise CheckError(f":rawPredict answered {raw.status_code}: {raw.text[:300]}")
    return sdk, np.asarray(raw.json()["predictions"], np.float64)


def compare(name: str, got: np.ndarray, expected: np.ndarray) -> float:
    if got.shape != expected.shape:
        raise CheckError(f"{name}: shape {got.shape} != in-process {expected.shape}")
    worst = float(np.max(np.abs(got - expected)))
    if not worst <= TOLERANCE:  # NaN fails too
        raise CheckError(f"{name}: differs from in-process serving by {worst:.3g} > {TOLERANCE:g}")
    return worst


def check(url: str, image: str, model_dir: Path) -> float:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    vertex = load_config("local").vertex
    aiplatform.init(project=vertex.project, location=vertex.region, api_endpoint=url, api_transport="rest",
                    credentials=AnonymousCredentials())  # fmt: skip
    run = f"serving-image-check-{uuid.uuid4().hex[:8]}"
    artifact_uri = stage(url, vertex, model_dir, run)
    ours = vertex.serving_image_uri("in-process")  # vertex-local serves this name in-process (runtimes.py)
    print(f"image-check: deploying {artifact_uri} with {image} (its own server) and {ours} (in-process)", flush=True)
    with_image, in_process = deploy(image, artifact_uri, f"{run}-image"), deploy(ours, artifact_uri, f"{run}-local")
    images = np.random.default_rng(SEED).random((DIGITS, 28, 28), dtype=np.float32)  # vertex-local imports no trainer
    expected, expected_raw = answers(url, in_process, images)
    got, got_raw = answers(url, with_image, images)
    worst = max(compare(":predict", got, expected), compare(":rawPredict", got_raw, expected_raw))
    print(f"image-check: {DIGITS} images, every probability within {worst:.2g} of in-process serving", flush=True)
    for endpoint in (with_image, in_process):
        endpoint.undeploy_all()
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="vertex-local's URL (make up's)")
    parser.add_argument(
        "--image", required=True, help="the serving image to deploy with, as `docker build -t` named it"
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="a SavedModel the trainer exported")
    args = parser.parse_args(argv)
    try:
        check(args.url.rstrip("/"), args.image, args.model_dir)
    except CheckError as exc:
        print(f"image-check: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
