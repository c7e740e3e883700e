"""trainer/storage.py against a real vertex-local: gs:// reads and writes through google-cloud-storage."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from tests.support.training import run_trainer
from trainer.data import DataError, load_npz
from trainer.storage import StorageError, check_output_location, output_dir, read_bytes, upload_dir


def write_files(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"content of {name}")


def test_an_uploaded_directory_keeps_its_names_and_ends_with_saved_model_then_metrics(vertex, unique_name, tmp_path):
    names = ["metrics.json", "saved_model.pb", "variables/variables.index", "fingerprint.pb", "assets/a.txt"]
    write_files(tmp_path, names)
    uploaded = upload_dir(tmp_path, f"gs://test-bucket/{unique_name}/model/")  # Vertex's trailing slash
    assert uploaded[-2:] == [f"{unique_name}/model/saved_model.pb", f"{unique_name}/model/metrics.json"]
    blobs = list(vertex.storage_client().bucket("test-bucket").list_blobs(prefix=f"{unique_name}/"))
    assert sorted(b.name for b in blobs) == sorted(f"{unique_name}/model/{name}" for name in names)
    by_generation = [b.name.rsplit("/", 1)[1] for b in sorted(blobs, key=lambda b: b.generation)]
    assert by_generation[-2:] == ["saved_model.pb", "metrics.json"]  # a reader who sees metrics.json sees it all
    assert read_bytes(f"gs://test-bucket/{unique_name}/model/variables/variables.index") == (
        b"content of variables/variables.index"
    )


def test_a_gs_npz_loads_and_a_missing_one_is_a_clear_data_error(vertex, unique_name):
    arrays = {"x_train": np.zeros((3, 28, 28), np.uint8), "y_train": np.arange(3), "x_test": np.zeros((1, 28, 28)),
              "y_test": np.arange(1)}  # fmt: skip
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    vertex.storage_client().bucket("test-bucket").blob(f"{unique_name}/d.npz").upload_from_string(buffer.getvalue())
    (x_train, _), _ = load_npz(f"gs://test-bucket/{unique_name}/d.npz")
    assert x_train.shape == (3, 28, 28)
    with pytest.raises(DataError, match=rf"gs://test-bucket/{unique_name}/nope.npz: file not found"):
        load_npz(f"gs://test-bucket/{unique_name}/nope.npz")


def test_writing_to_a_bucket_that_does_not_exist_names_the_object(vertex, tmp_path):
    write_files(tmp_path, ["saved_model.pb"])
    with pytest.raises(StorageError, match=r"cannot write gs://no-such-bucket/m/saved_model.pb \(NotFound"):
        upload_dir(tmp_path, "gs://no-such-bucket/m")


def test_a_non_chiefs_output_is_neither_uploaded_nor_left_behind(vertex, unique_name):
    with output_dir(f"gs://test-bucket/{unique_name}/model", publish=False) as scratch:
        write_files(scratch, ["saved_model.pb"])
    assert not scratch.exists()
    assert list(vertex.storage_client().bucket("test-bucket").list_blobs(prefix=unique_name)) == []


def test_a_failed_run_uploads_nothing(vertex, unique_name):
    with pytest.raises(RuntimeError), output_dir(f"gs://test-bucket/{unique_name}/model") as scratch:
        write_files(scratch, ["saved_model.pb"])
        raise RuntimeError("training diverged")
    assert not scratch.exists()
    assert list(vertex.storage_client().bucket("test-bucket").list_blobs(prefix=unique_name)) == []


@pytest.mark.parametrize("location", ["s3://bucket/model", "http://host/model", "gs:///model", "gs://"])
def test_locations_the_trainer_cannot_write_are_refused(location):
    with pytest.raises(ValueError, match=r"URI|local paths and gs://"):
        check_output_location(location)


@pytest.mark.slow
def test_the_cli_reports_an_unwritable_model_dir_in_one_line(vertex, tmp_path):
    args = ("--dataset", "mnist-sample", "--model", "baseline", "--epochs", "1")
    result = run_trainer(*args, env={"AIP_MODEL_DIR": "gs://no-such-bucket/run/model/"})
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("trainer: error: cannot write gs://no-such-bucket/run/model/")
