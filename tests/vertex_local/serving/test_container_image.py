"""The serving image runs, proven without a Docker engine (pr.yml's serving-image job runs the real one).

From serving.Dockerfile and its .dockerignore (tests/support/image_tree.py): the files its COPY lines put in the
image, made read-only; its ENTRYPOINT run in its WORKDIR with its ENV, as its numeric USER (when the tests run as
root), with a venv holding only TensorFlow at the base image's version and vertex_local/serving/requirements.txt
(tests/vertex_local/serving/image_venv.py). Vertex's contract then: AIP_STORAGE_URI names a model in a real
vertex-local's storage, health answers 200 once it is loaded, and the walkthrough's digit is predicted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.support.image_tree import ImageSpec, build_tree, make_read_only, read_dockerfile, remove_tree
from tests.support.vertex_local_server import free_port
from tests.vertex_local.serving.image_venv import linked_venv, pinned_names

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = "serving.Dockerfile"
REQUIREMENTS = "vertex_local/serving/requirements.txt"
READY_S = 120.0  # TensorFlow's import and the model's load on a busy 2-core machine


@pytest.fixture(scope="module")
def spec() -> ImageSpec:
    return read_dockerfile(REPO / DOCKERFILE)


@pytest.fixture
def image_root() -> Iterator[Path]:
    """A scratch / for the image, outside pytest's 0700 temp dirs so the image's user can reach it."""
    root = Path(tempfile.mkdtemp(prefix="serving-image-"))
    root.chmod(0o755)
    yield root
    remove_tree(root)


@pytest.fixture(scope="module")
def image_python(spec: ImageSpec) -> Iterator[Path]:
    """The image's Python: TensorFlow at the base tag's version and the serving requirements, nothing else."""
    import importlib.metadata

    image, tag = spec.base_image_and_tag()
    assert image == "tensorflow/tensorflow" and importlib.metadata.version("tensorflow-cpu") == tag
    root = Path(tempfile.mkdtemp(prefix="serving-venv-"))
    base = shutil.which(f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/bin:/bin")
    yield linked_venv(root, ["tensorflow-cpu", *pinned_names(REPO / REQUIREMENTS)], base or sys.executable)
    shutil.rmtree(root, ignore_errors=True)


def test_the_serving_image_runs_the_container_module_as_a_numeric_user_on_the_trainers_tensorflow(spec) -> None:
    assert any("pip install" in run and f"-r {REQUIREMENTS}" in run for run in spec.runs)
    assert spec.user.isdigit() and int(spec.user) != 0
    assert spec.entrypoint == ("python", "-m", "vertex_local.serving.container")
    assert spec.base == read_dockerfile(REPO / "Dockerfile").base  # the TensorFlow that exported the model serves it
    assert spec.exposed == ["8080"]


def test_the_serving_image_holds_exactly_the_serving_paths_tracked_sources(spec, image_root) -> None:
    copied = build_tree(spec, REPO, image_root, DOCKERFILE)
    sources = ["pipeline.toml", "pipeline_config.py", "native_logs.py", "tasks", "vertex_local/__init__.py",
               "vertex_local/errors.py", "vertex_local/http", "vertex_local/serving"]  # fmt: skip
    tracked = subprocess.run(["git", "ls-files", *sources], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
    assert copied == {f"/app/{name}" for name in tracked}


def test_the_images_python_has_the_serving_requirements_and_not_the_pipelines(image_python) -> None:
    probe = "import google.cloud.storage, simdjson, uvicorn, tensorflow; import google.cloud.aiplatform"
    result = subprocess.run([str(image_python), "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "No module named 'google.cloud.aiplatform'" in result.stderr, result.stderr


def wait_until_healthy(process: subprocess.Popen, url: str) -> requests.Response:
    """Poll the health route as Vertex does, until 200 or the process ends; the last answer."""
    deadline = time.monotonic() + READY_S
    answer = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = requests.get(url, timeout=5)
        except requests.ConnectionError:
            answer = None
        if answer is not None and answer.status_code == 200:
            return answer
        time.sleep(0.2)  # a poll interval, as a health checker's: nothing else tells us the load has finished
    raise AssertionError(f"not healthy: exit {process.poll()}, last answer {answer and answer.status_code}")


@pytest.mark.slow
def test_the_images_entrypoint_serves_the_walkthroughs_digit_from_vertex_local_storage_as_its_user(
    spec, image_root, image_python, vertex, unique_name, trained_model_dir, mnist_test_digits
) -> None:
    build_tree(spec, REPO, image_root, DOCKERFILE)
    make_read_only(image_root)
    home = Path(tempfile.mkdtemp(prefix="serving-home-"))  # useradd's /home/serving; the model's copy goes to /tmp
    as_user: dict = {}
    if os.geteuid() == 0:
        os.chown(home, int(spec.user), int(spec.user))
        as_user = {"user": int(spec.user), "group": int(spec.user), "extra_groups": []}
    port = free_port()
    storage_uri = vertex.stage_model(trained_model_dir, unique_name)
    env = {**spec.env, "HOME": str(home), "TMPDIR": str(home), "PATH": f"{image_python.parent}:/usr/bin:/bin",
           "AIP_HTTP_PORT": str(port), "AIP_HEALTH_ROUTE": "/health", "AIP_PREDICT_ROUTE": "/predict",
           "AIP_STORAGE_URI": storage_uri, "STORAGE_EMULATOR_HOST": vertex.url}  # fmt: skip
    workdir = image_root / spec.workdir.lstrip("/")
    process = subprocess.Popen([*spec.entrypoint, "--host", "127.0.0.1"], cwd=workdir, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **as_user)  # fmt: skip
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}/health")
        images, labels = mnist_test_digits
        body = {"instances": [images[0].tolist()], "parameters": {}}  # the walkthrough's test_x[0]
        answer = requests.post(f"http://127.0.0.1:{port}/predict", data=json.dumps(body), timeout=30)
        wrong = requests.post(f"http://127.0.0.1:{port}/predict", json={"instances": [[1, 2]]}, timeout=30)
    finally:
        process.terminate()
        output = process.communicate(timeout=60)[0]
        remove_tree(home)
    assert answer.status_code == 200, output[-3000:]
    assert set(answer.json()) == {"predictions"}
    probabilities = np.array(answer.json()["predictions"])
    assert probabilities.shape == (1, 10) and int(probabilities.argmax()) == labels[0]
    np.testing.assert_allclose(probabilities[0], in_process(trained_model_dir, images[:1])[0], atol=1e-6)
    assert wrong.status_code == 400 and wrong.json()["error"]["status"] == "INVALID_ARGUMENT"


def in_process(model_dir: Path, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    serving = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    return serving(image=tf.constant(images))["probabilities"].numpy()
