"""ModelServer with real TensorFlow on a model the real trainer exported; ServingMetrics.

Run: .venv/bin/pytest tests/vertex_local/serving/test_model_server.py
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import requests
import tensorflow as tf

from pipeline_config import Serving, load_config
from tests.support.loop_thread import LoopThread
from tests.support.saved_models import save_feature_model
from tests.support.vertex_local_server import VertexLocal
from vertex_local.errors import ApiError
from vertex_local.serving.instances import InstancesParser
from vertex_local.serving.model_server import (
    InputSpec,
    ModelServer,
    graph_call,
    load_saved_model,
    signature_caller,
)
from vertex_local.serving.prometheus import ServingMetrics

MODEL_ID = "dm-1"


def limits(**changes: Any) -> Serving:
    return dataclasses.replace(load_config("local", environ={}).serving, **changes)


@contextlib.contextmanager
def started_server(loop: LoopThread, model_dir: Path, serving: Serving) -> Iterator[ModelServer]:
    server = ModelServer(serving)
    loop.run(server.start())
    server.load(MODEL_ID, model_dir)
    try:
        yield server
    finally:
        loop.run(server.close())


async def predict_all(server: ModelServer, batches: list[np.ndarray]) -> list[np.ndarray | ApiError]:
    """Send every batch at once; each result is the caller's rows or the ApiError it got."""
    results = await asyncio.gather(*(server.predict(MODEL_ID, b) for b in batches), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, ApiError):
            raise result
    return results


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def server(loop: LoopThread, trained_model_dir: Path) -> Iterator[ModelServer]:
    with started_server(loop, trained_model_dir, limits()) as running:
        yield running


@pytest.fixture(scope="module")
def reference(trained_model_dir: Path) -> Any:
    """The SavedModel called directly, without vertex-local."""
    signature = tf.saved_model.load(str(trained_model_dir)).signatures["serving_default"]
    return lambda images: signature(image=tf.constant(images))["probabilities"].numpy()


@pytest.fixture(scope="module")
def digits(mnist_test_digits: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return mnist_test_digits[0]


def test_predictions_match_calling_the_saved_model_directly(
    loop: LoopThread, server: ModelServer, reference: Any, digits: np.ndarray
) -> None:
    images = digits[:50]
    predicted = loop.run(server.predict(MODEL_ID, images))
    assert predicted.shape == (50, 10) and predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, reference(images), rtol=1e-5, atol=1e-6)


def test_the_serving_call_answers_bit_for_bit_as_the_signature_called_by_name(
    trained_model_dir: Path, digits: np.ndarray
) -> None:
    loaded = load_saved_model(trained_model_dir)
    for count in (1, 7, 64):
        images = digits[:count]
        by_name = loaded.function(image=tf.constant(images))["probabilities"].numpy()
        assert np.array_equal(loaded.run(images), by_name), count


class SkewedGraphCall:
    """A real signature whose graph function answers otherwise than its call by name: signature_caller must notice."""

    def __init__(self, function: Any) -> None:
        self.function = function
        zeros = tf.function(lambda image: {"probabilities": tf.zeros([tf.shape(image)[0], 10])})
        other = zeros.get_concrete_function(tf.TensorSpec([None, 28, 28], tf.float32))
        self._inference_function = other._inference_function
        self.captured_inputs = other.captured_inputs

    def __call__(self, **inputs: Any) -> Any:
        return self.function(**inputs)


def test_the_serving_call_runs_the_graph_function_directly(trained_model_dir: Path) -> None:
    """Not the structured call's fallback: this TensorFlow has every piece graph_call needs."""
    loaded = load_saved_model(trained_model_dir)
    assert graph_call(loaded.function) is not None
    assert not isinstance(loaded.run, functools.partial)


def test_a_graph_call_that_answers_otherwise_is_not_used(trained_model_dir: Path, digits: np.ndarray) -> None:
    function = tf.saved_model.load(str(trained_model_dir)).signatures["serving_default"]
    skewed = SkewedGraphCall(function)
    images = digits[:3]
    assert not np.array_equal(graph_call(skewed)(images), function(image=tf.constant(images))["probabilities"])
    run = signature_caller(skewed, InputSpec("image", (28, 28)), "probabilities")
    assert np.array_equal(run(images), function(image=tf.constant(images))["probabilities"].numpy())


def test_predictions_classify_real_digits(
    loop: LoopThread, server: ModelServer, mnist_test_digits: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = mnist_test_digits
    predicted = loop.run(server.predict(MODEL_ID, images[:256]))
    assert (predicted.argmax(axis=1) == labels[:256]).mean() >= 0.85  # baseline, 3 epochs: about 0.92


def test_concurrent_requests_share_batches_and_each_caller_gets_its_own_rows(
    loop: LoopThread, trained_model_dir: Path, reference: Any, digits: np.ndarray
) -> None:
    requests_ = [digits[i : i + 1 + i % 3] for i in range(40)]  # 1, 2 or 3 images each
    with started_server(loop, trained_model_dir, limits(max_batch_size=16)) as server:
        results = loop.run(predict_all(server, requests_))
        stats = server.batch_stats(MODEL_ID)
    for images, result in zip(requests_, results, strict=True):
        np.testing.assert_allclose(result, reference(images), rtol=1e-5, atol=1e-6)
    assert stats.requests == 40 and stats.images == sum(len(r) for r in requests_)
    assert stats.most_requests > 1 and stats.batches < 40
    assert stats.most_images <= 16


def test_a_lone_request_does_not_wait_for_company(loop: LoopThread, trained_model_dir: Path) -> None:
    one = np.zeros((1, 28, 28), np.float32)
    with started_server(loop, trained_model_dir, limits(batch_timeout_ms=2000.0)) as server:
        loop.run(server.predict(MODEL_ID, one))
        started = time.perf_counter()
        for _ in range(3):
            loop.run(server.predict(MODEL_ID, one))
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"3 lone requests took {elapsed:.2f} s: they waited for a batch timeout"


def test_a_crowd_that_arrived_together_is_gathered_again(loop: LoopThread, trained_model_dir: Path) -> None:
    one = np.zeros((1, 28, 28), np.float32)

    async def staggered(server: ModelServer, count: int) -> None:
        tasks = []
        for _ in range(count):
            tasks.append(asyncio.ensure_future(server.predict(MODEL_ID, one)))
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)

    with started_server(loop, trained_model_dir, limits(batch_timeout_ms=1000.0)) as server:
        loop.run(predict_all(server, [one] * 6))  # six at once: one batch of six
        before = server.batch_stats(MODEL_ID).batches
        loop.run(staggered(server, 6))  # six, 10 ms apart: the batch waits for all six
        after = server.batch_stats(MODEL_ID)
    assert after.batches - before == 1 and after.most_requests == 6


def test_a_request_larger_than_a_batch_runs_on_its_own(
    loop: LoopThread, trained_model_dir: Path, reference: Any, digits: np.ndarray
) -> None:
    with started_server(loop, trained_model_dir, limits(max_batch_size=8)) as server:
        results = loop.run(predict_all(server, [digits[:20], digits[20:23]]))
    np.testing.assert_allclose(results[0], reference(digits[:20]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[1], reference(digits[20:23]), rtol=1e-5, atol=1e-6)


def test_a_full_queue_refuses_with_429_and_serves_the_rest(
    loop: LoopThread, trained_model_dir: Path, reference: Any, digits: np.ndarray
) -> None:
    requests_ = [digits[i : i + 1] for i in range(30)]
    with started_server(loop, trained_model_dir, limits(max_queue=4, max_batch_size=2)) as server:
        results = loop.run(predict_all(server, requests_))
    refused = [r for r in results if isinstance(r, ApiError)]
    assert refused and all(r.code == 429 and "requests waiting" in r.message for r in refused)
    served = [(images, r) for images, r in zip(requests_, results, strict=True) if not isinstance(r, ApiError)]
    assert len(served) >= 4
    for images, result in served:
        np.testing.assert_allclose(result, reference(images), rtol=1e-5, atol=1e-6)


def test_an_unknown_model_is_a_clear_404(loop: LoopThread, server: ModelServer) -> None:
    with pytest.raises(ApiError, match="deployed model nope is not loaded") as caught:
        loop.run(server.predict("nope", np.zeros((1, 28, 28), np.float32)))
    assert caught.value.code == 404


def test_an_unloaded_model_answers_404(loop: LoopThread, trained_model_dir: Path) -> None:
    with started_server(loop, trained_model_dir, limits()) as server:
        loop.run(server.predict(MODEL_ID, np.zeros((1, 28, 28), np.float32)))
        server.unload(MODEL_ID)
        assert not server.is_loaded(MODEL_ID)
        with pytest.raises(ApiError, match="not loaded"):
            loop.run(server.predict(MODEL_ID, np.zeros((1, 28, 28), np.float32)))


def test_loads_and_unloads_leave_no_objects_behind(loop: LoopThread, trained_model_dir: Path) -> None:
    """A model's objects (4,000 or more, some in reference cycles) are all freed by its unload."""

    def load_two_predict_unload(turn: int) -> None:
        ids = [f"{turn}-a", f"{turn}-b"]  # the second is loaded while the first is: one load never takes another
        for deployed_model_id in ids:
            server.load(deployed_model_id, trained_model_dir)
            loop.run(server.predict(deployed_model_id, np.zeros((1, 28, 28), np.float32)))  # its batcher holds it
        for deployed_model_id in ids:
            server.unload(deployed_model_id)
        loop.run(asyncio.sleep(0))  # the batchers' stops, which unload() hands to the loop, have run
        gc.collect()

    with started_server(loop, trained_model_dir, limits()) as server:
        load_two_predict_unload(0)  # what TensorFlow makes once, on a first load, stays
        before = gc.get_freeze_count() + len(gc.get_objects())
        for turn in range(1, 4):
            load_two_predict_unload(turn)
        assert gc.get_freeze_count() + len(gc.get_objects()) - before < 1000  # one model left each turn: 3,700
        assert server.is_loaded(MODEL_ID)


def test_loading_a_folder_without_a_saved_model_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no saved_model\.pb"):
        ModelServer(limits()).load("x", tmp_path)


def test_loading_a_damaged_saved_model_says_so(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf at all")
    with pytest.raises(ValueError, match="cannot load the SavedModel"):
        ModelServer(limits()).load("x", tmp_path)


def test_loading_a_model_with_an_unservable_signature_names_what_it_takes(tmp_path: Path) -> None:
    class Ids(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.int32, name="pixels")])
        def serve(self, pixels: tf.Tensor) -> dict:
            return {"probabilities": tf.cast(pixels[:, :10], tf.float32)}

    module = Ids()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    with pytest.raises(ValueError, match=r"takes \['pixels'\].*not one float32 input of shape \[None, <fixed sizes>\]"):
        ModelServer(limits()).load("x", tmp_path)


def test_a_model_of_another_input_shape_is_served_by_its_own_signature(tmp_path: Path) -> None:
    server = ModelServer(limits())
    server.load("flat", save_feature_model(tmp_path))
    assert server.input_of("flat") == InputSpec("features", (13,))
    parser = InstancesParser(limits())
    assert parser.parse(b'{"instances": [[' + b", ".join([b"1.5"] * 13) + b"]]}", server.input_of("flat")).shape == (
        1,
        13,
    )
    with pytest.raises(ApiError, match=r"each instance must be 13 numbers \(shape \[n, 13\]\), got shape \[1, 28\]"):
        parser.parse(orjson.dumps({"instances": [[0.5] * 28]}), server.input_of("flat"))


def test_metrics_count_requests_predictions_and_errors_per_model() -> None:
    metrics = ServingMetrics()
    metrics.observe("e1", "d1", 3, 0.002, False)
    metrics.observe("e1", "d1", 0, 0.010, True)
    metrics.observe("e1", "d2", 1, 0.001, False)
    text = metrics.scrape().decode()
    assert 'vertex_local_prediction_requests_total{deployed_model_id="d1",endpoint_id="e1"} 2.0' in text
    assert 'vertex_local_predictions_total{deployed_model_id="d1",endpoint_id="e1"} 3.0' in text
    assert 'vertex_local_prediction_errors_total{deployed_model_id="d1",endpoint_id="e1"} 1.0' in text
    assert 'vertex_local_prediction_latency_seconds_count{deployed_model_id="d2",endpoint_id="e1"} 1.0' in text
    assert 'vertex_local_prediction_errors_total{deployed_model_id="d2"' not in text
    assert ServingMetrics().scrape().count(b"_total{") == 0  # each object has its own registry


def test_the_live_server_exposes_prometheus_metrics(vertex_local: VertexLocal) -> None:
    answer = requests.get(f"{vertex_local.url}/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "# TYPE vertex_local_prediction_latency_seconds histogram" in answer.text
