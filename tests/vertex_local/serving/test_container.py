"""vertex_local.serving.container: each startup failure ends the server with one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import numpy as np
import orjson
import pytest

from pipeline_config import load_config
from tests.support.saved_models import CLASSES, FEATURES, save_feature_model
from tests.support.vertex_local_server import free_port
from vertex_local.serving import container

STORAGE = "gs://bucket/model"


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        ({}, "serving: AIP_STORAGE_URI is not set: it names the gs:// folder of the model to serve"),
        ({"AIP_STORAGE_URI": STORAGE, "AIP_HTTP_PORT": "http"}, "serving: AIP_HTTP_PORT='http' is not a TCP port"),
        ({"AIP_STORAGE_URI": STORAGE, "AIP_PREDICT_ROUTE": "predict"}, "serving: AIP_PREDICT_ROUTE='predict' is not"),
        (
            {"AIP_STORAGE_URI": STORAGE, "AIP_HEALTH_ROUTE": "/p", "AIP_PREDICT_ROUTE": "/p"},
            "serving: AIP_HEALTH_ROUTE",
        ),
    ],
)
def test_a_bad_environment_exits_2_with_one_line(environ, line, capsys) -> None:
    assert container.main([], environ) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_a_port_already_taken_exits_1_with_one_line_before_any_model_is_read(capsys) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = container.main(["--host", "127.0.0.1"], {"AIP_STORAGE_URI": STORAGE, "AIP_HTTP_PORT": str(port)})
    assert code == 1
    assert capsys.readouterr().err == f"serving: port {port} on 127.0.0.1 is already in use\n"


def serve_once(uri: str, storage: str) -> subprocess.CompletedProcess:
    env = {
        "AIP_STORAGE_URI": uri,
        "AIP_HTTP_PORT": str(free_port()),
        "STORAGE_EMULATOR_HOST": storage,
        "PATH": "/usr/bin:/bin",
    }
    command = [sys.executable, "-m", "vertex_local.serving.container", "--host", "127.0.0.1"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_a_folder_that_is_not_a_saved_model_exits_1_with_one_line(vertex, unique_name, tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    uri = vertex.stage_model(tmp_path, unique_name)
    done = serve_once(uri, vertex.url)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"serving: AIP_STORAGE_URI {uri} is not a servable model:")
    assert "saved_model.pb" in done.stderr and "Traceback" not in done.stderr


def test_an_empty_storage_folder_exits_1_with_one_line(vertex, unique_name) -> None:
    done = serve_once(f"gs://{vertex.bucket}/{unique_name}/nothing", vertex.url)
    assert done.returncode == 1
    uri = f"gs://{vertex.bucket}/{unique_name}/nothing"
    assert done.stderr.strip().splitlines()[-1] == f"serving: AIP_STORAGE_URI {uri} holds no objects"


def test_the_container_parses_bodies_against_its_models_own_input(tmp_path) -> None:
    """Any task's model, not only MNIST's [28, 28]: the body is read against the loaded signature's input."""
    save_feature_model(tmp_path)
    app = container.ContainerApp(container.ContainerEnv.from_environ({"AIP_STORAGE_URI": STORAGE}),
                                 load_config("local", environ={}).serving)  # fmt: skip

    async def predict(body: bytes) -> bytes:
        await app.server.start()
        try:
            await app.load(tmp_path)
            return await app.predict(body)
        finally:
            await app.server.close()

    answer = orjson.loads(asyncio.run(predict(orjson.dumps({"instances": [[0.5] * FEATURES]}))))
    assert np.allclose(answer["predictions"], [[1 / CLASSES] * CLASSES])
