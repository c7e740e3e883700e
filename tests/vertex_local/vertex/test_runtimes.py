"""A model is checked against the TensorFlow of the serving image it names, not the host's.

The op lists are what tf_ops/dump_ops.py prints under each TF version; a model with an op TF 2.15 lacks (a
DecodeWebP, registered since TF 2.18, in a branch serving never takes) loads here under TF 2.21 but not under
TF 2.15, so its deploy to a tf2-cpu.2-15 model fails and the endpoint keeps its split.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import tiers
from tests.support.concurrency import endpoint_doc, operation_of
from tests.support.rest_client import HttpClient, create_endpoint, deploy, predict_body, wait_for_operation
from tests.support.tf215 import tf215_python
from tests.support.vertex_local_server import REPO_ROOT, VertexLocal, start_vertex_local
from vertex_local.vertex import runtimes

FAILED_PRECONDITION = 9
PREBUILT_TF215 = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
OWN = "mnist-serving"
BEFORE_2027 = datetime.date(2026, 6, 1)
OUR_IMAGE = "us-central1-docker.pkg.dev/my-project/mlops/mnist-serving:0123abc"
LOAD_EACH = """\
import sys, tensorflow as tf
for path in sys.argv[1:]:
    try:
        tf.saved_model.load(path)
    except Exception as error:
        print(f"refused {path}: " + " ".join(str(error).split()))
    else:
        print(f"loaded {path}")
"""  # TensorFlow's saved_model.load of each folder named, one line each


def export_model_with_an_op_tf215_lacks(path: Path) -> Path:
    """An image -> probabilities SavedModel whose graph holds a DecodeWebP op it never runs."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self) -> None:
            self.weights = tf.Variable(tf.zeros([784, 10]))

        @tf.function(input_signature=[tf.TensorSpec([None, 28, 28], tf.float32, name="image")])
        def serve(self, image):
            logits = tf.reshape(image, [-1, 784]) @ self.weights
            webp = lambda: tf.cast(tf.size(tf.raw_ops.DecodeWebP(contents=tf.constant(b""), channels=3)), tf.float32)  # noqa: E731
            return {"probabilities": tf.nn.softmax(logits + tf.cond(tf.reduce_sum(image) < -1.0, webp, lambda: 0.0))}

    model = Model()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})
    return path


@pytest.fixture(scope="module")
def webp_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model_with_an_op_tf215_lacks(tmp_path_factory.mktemp("webp") / "model")


@pytest.fixture(scope="module")
@tiers.live
def dated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexLocal]:
    """A vertex-local reading Google's prebuilt-image dates as on BEFORE_2027, whatever today is."""
    server = start_vertex_local(tmp_path_factory.mktemp("dated") / "state", args=("--today", BEFORE_2027.isoformat()))
    yield server
    server.stop()


def upload_with(client: HttpClient, server: VertexLocal, image: str, uri: str, parent: str = "") -> str:
    body = {"model": {"displayName": "runtimes", "artifactUri": uri, "containerSpec": {"imageUri": image}}}
    answer = client.json(
        "POST", f"/v1/{server.parent}/models:upload", {**body, **({"parentModel": parent} if parent else {})}
    )
    assert answer.status == 200, answer.body
    return wait_for_operation(client, answer.json())["model"]


def test_the_trained_model_passes_for_every_served_runtime_and_the_webp_model_does_not(
    trained_model_dir: Path, webp_model: Path
) -> None:
    for tf_version in {dates.tf_version for dates in runtimes.PREBUILT_TF_DATES.values() if dates.tf_version >= "2.14"}:
        runtimes.check_ops(trained_model_dir, tf_version)
        with pytest.raises(ValueError, match=rf"\['DecodeWebP'\] that TensorFlow {tf_version}"):
            runtimes.check_ops(webp_model, tf_version)


def test_a_deploy_of_a_model_its_runtime_cannot_load_fails_and_the_old_split_keeps_serving(
    dated_server: VertexLocal, trained_model_dir: Path, webp_model: Path, mnist_test_digits
) -> None:
    vertex_local, client = dated_server, HttpClient(dated_server.url)
    good_uri = vertex_local.stage_model(trained_model_dir, "runtimes-ok")
    good = upload_with(client, vertex_local, PREBUILT_TF215, good_uri)
    endpoint_id = create_endpoint(client, vertex_local, "runtimes")
    live = deploy(client, vertex_local, endpoint_id, good, {"0": 100})
    upload_with(client, vertex_local, PREBUILT_TF215, vertex_local.stage_model(webp_model, "runtimes-webp"), good)
    body = {"deployedModel": {"model": f"{good}@2", "dedicatedResources": {"machineSpec": {}, "minReplicaCount": 1}},
            "trafficSplit": {"0": 10, live: 90}}  # fmt: skip
    answer = client.json("POST", f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}:deployModel", body)
    operation = operation_of(client, answer.json())
    assert operation["error"]["code"] == FAILED_PRECONDITION, operation
    assert "DecodeWebP" in operation["error"]["message"] and "TensorFlow 2.15" in operation["error"]["message"]
    endpoint = endpoint_doc(client, vertex_local, endpoint_id)
    assert endpoint["trafficSplit"] == {live: 100} and [d["id"] for d in endpoint["deployedModels"]] == [live]
    path = f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}:predict"
    answer = client.request("POST", path, predict_body(mnist_test_digits[0][:2]), {"content-type": "application/json"})
    assert answer.status == 200 and answer.json()["deployedModelId"] == live
    client.close()


def test_a_prebuilt_image_vertex_local_cannot_serve_registers_but_is_not_deployed(dated_server: VertexLocal) -> None:
    vertex_local, client = dated_server, HttpClient(dated_server.url)
    image = "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest"
    model = {"displayName": "xgb", "artifactUri": "gs://test-bucket/xgb", "containerSpec": {"imageUri": image}}
    body = {"model": model}
    uploaded = client.json("POST", f"/v1/{vertex_local.parent}/models:upload", body)
    assert uploaded.status == 200, uploaded.body
    model = operation_of(client, uploaded.json())["response"]["model"]
    endpoint_id = create_endpoint(client, vertex_local, "xgb")
    deploy_body = {"deployedModel": {"model": model, "dedicatedResources": {"machineSpec": {}, "minReplicaCount": 1}}}
    answer = client.json("POST", f"/v1/{vertex_local.parent}/endpoints/{endpoint_id}:deployModel", deploy_body)
    assert answer.status == 400 and answer.json()["error"]["status"] == "FAILED_PRECONDITION"
    message = answer.json()["error"]["message"]
    assert "xgboost-cpu.1-7" in message and "tf2-cpu.2-15" in message
    client.close()


@pytest.mark.live
def test_on_its_end_of_availability_a_server_refuses_to_deploy_the_tf_2_15_image(tmp_path: Path) -> None:
    server = start_vertex_local(tmp_path / "state", args=("--today", "2027-01-14"))
    client = HttpClient(server.url)
    try:
        model = upload_with(client, server, PREBUILT_TF215, "gs://test-bucket/retired/model")
        endpoint_id = create_endpoint(client, server, "retired")
        body = {"deployedModel": {"model": model, "dedicatedResources": {"machineSpec": {}, "minReplicaCount": 1}}}
        answer = client.json("POST", f"/v1/{server.parent}/endpoints/{endpoint_id}:deployModel", body)
        assert answer.status == 400 and answer.json()["error"]["status"] == "FAILED_PRECONDITION", answer.body
        assert "no longer available: Google retired it on 2027-01-14" in answer.json()["error"]["message"]
    finally:
        client.close()
        # A graceful stop: it does not wait for the TensorFlow import the upload started (Deployments.warm_up).
        stopped = server.stop()
    assert stopped == 0, server.log_tail()


@pytest.mark.parametrize(
    ("image", "tf_version"),
    [
        ("us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest", "2.15"),
        ("europe-docker.pkg.dev/vertex-ai/prediction/tf2-gpu.2-15:latest", "2.15"),
        ("asia-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-14:latest", "2.14"),
    ],
)
def test_each_served_image_is_checked_against_its_own_tensorflow(image: str, tf_version: str) -> None:
    assert runtimes.serving_tf_version({"imageUri": image}, OWN, BEFORE_2027) == tf_version


def test_our_serving_image_is_served_in_process_with_no_op_list_to_check() -> None:
    assert runtimes.serving_tf_version({"imageUri": OUR_IMAGE}, OWN, BEFORE_2027) is runtimes.OWN_IMAGE
    assert runtimes.is_own_image(OUR_IMAGE.replace(":0123abc", "@sha256:" + "a" * 64), OWN)
    assert not runtimes.is_own_image(OUR_IMAGE.replace("mnist-serving", "other-server"), OWN)
    assert not runtimes.is_own_image(OUR_IMAGE, "")  # a config naming a prebuilt image has no image of its own


@pytest.mark.parametrize(
    ("image", "today", "message"),
    [
        ("us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest", datetime.date(2027, 1, 14),
         "no longer available: Google retired it on 2027-01-14"),
        ("us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-13:latest", BEFORE_2027, "retired it on 2025-11-28"),
        ("us-central1-docker.pkg.dev/p/r/someone-elses:1", BEFORE_2027, "is a custom container, and this machine has"
         " no Docker engine to run it: vertex-local serves this repository's image 'mnist-serving'"),
    ],
)  # fmt: skip
def test_a_retired_prebuilt_image_or_an_unknown_custom_image_is_refused_in_one_line(image, today, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        runtimes.serving_tf_version({"imageUri": image}, OWN, today)
    assert "\n" not in str(refused.value)


def test_an_upload_past_the_end_of_support_warns_and_one_before_it_does_not(caplog) -> None:
    image = {"imageUri": "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"}
    runtimes.check_upload_image(image, OWN, datetime.date(2026, 1, 13))
    assert not caplog.records
    runtimes.check_upload_image(image, OWN, datetime.date(2026, 1, 14))
    assert "stops offering it on 2027-01-14" in caplog.text


@pytest.mark.slow
@pytest.mark.tf215
def test_tf_2_15_itself_agrees_and_its_op_list_is_what_dump_ops_prints(trained_model_dir: Path, webp_model: Path):
    python, env = str(tf215_python()), {"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": os.environ["PATH"]}
    # Both loads in one TF 2.15 process (its import is most of the cost); each prints what became of it.
    loads = subprocess.run([python, "-c", LOAD_EACH, str(trained_model_dir), str(webp_model)], capture_output=True,
                           text=True, env=env)  # fmt: skip
    assert loads.returncode == 0, loads.stderr[-2000:]
    loaded, refused = loads.stdout.splitlines()
    assert loaded == f"loaded {trained_model_dir}", loads.stdout
    assert refused.startswith(f"refused {webp_model}: ") and "Op type not registered 'DecodeWebP'" in refused
    dumped = subprocess.run([python, str(REPO_ROOT / "vertex_local/vertex/tf_ops/dump_ops.py")], capture_output=True,
                            text=True, env=env, check=True)  # fmt: skip
    assert json.loads(dumped.stdout) == json.loads((runtimes.OPS_DIR / "tf-2.15.json").read_text())
