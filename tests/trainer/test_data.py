"""The loaders: shapes, ranges, the stratified split, determinism, and every bad-input case."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from tests.support.training import run_trainer
from trainer.data import (
    DataError,
    load_dataset,
    load_idx_dir,
    load_mnist_sample,
    mnist_sample_table,
    read_idx,
    stratified_split,
)


@pytest.fixture(scope="module")
def sample():
    return load_dataset("mnist-sample", seed=42)


def test_mnist_sample_is_float_images_in_unit_range(sample):
    (x_train, y_train), (x_test, y_test) = sample
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_test)) == set(range(10))


def test_mnist_sample_split_is_stratified_and_disjoint(sample):
    (x_train, y_train), (x_test, y_test) = sample
    assert np.bincount(y_test).tolist() == [100] * 10
    assert np.bincount(y_train).tolist() == [400] * 10
    train_rows = {row.tobytes() for row in x_train}
    assert sum(row.tobytes() in train_rows for row in x_test) < 5  # the sample itself has a few duplicates


def test_same_seed_gives_the_same_split_and_another_seed_does_not(sample):
    (x_again, _), _ = load_dataset("mnist-sample", seed=42)
    (x_other, _), _ = load_dataset("mnist-sample", seed=7)
    assert np.array_equal(sample[0][0], x_again)
    assert not np.array_equal(sample[0][0], x_other)


def test_the_sample_is_parsed_once_and_every_call_gets_arrays_of_its_own():
    assert mnist_sample_table() is mnist_sample_table()  # parsed once per process
    images, labels = mnist_sample_table()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and labels.shape == (5000,)
    with pytest.raises(ValueError, match="read-only"):
        images[0, 0, 0] = 1
    (x_first, y_first), (x_test, _) = load_mnist_sample(42)
    (x_second, y_second), _ = load_mnist_sample(42)
    assert np.array_equal(x_first, x_second) and np.array_equal(y_first, y_second)
    assert not np.shares_memory(x_first, x_second) and not np.shares_memory(x_first, images)
    x_first[:] = 0  # a caller may change its own arrays: no other caller sees it
    y_first[:] = 0
    (x_third, y_third), (x_test_again, _) = load_mnist_sample(42)
    assert np.array_equal(x_third, x_second) and np.array_equal(y_third, y_second)
    assert np.array_equal(x_test, x_test_again)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_stratified_split_holds_out_the_fraction_of_each_class(fraction):
    labels = np.repeat(np.arange(3), [10, 20, 40])
    train, test = stratified_split(labels, fraction, seed=0)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(70))
    assert np.bincount(labels[test]).tolist() == [round(n * fraction) for n in (10, 20, 40)]


def save_npz(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def good_arrays(n: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return {"x_train": images, "y_train": labels, "x_test": images[:5], "y_test": labels[:5]}


def test_npz_in_keras_layout_loads(tmp_path):
    path = save_npz(tmp_path / "d.npz", **good_arrays())
    (x_train, _y_train), (x_test, _) = load_dataset("mnist", data_path=path)
    assert x_train.shape == (20, 28, 28) and x_test.shape == (5, 28, 28) and x_train.max() <= 1.0


BAD_NPZ = {
    "missing arrays y_test": lambda a: {k: v for k, v in a.items() if k != "y_test"},
    "expected (n, 28, 28)": lambda a: {**a, "x_train": a["x_train"].reshape(20, 784)},
    "20 images but 19 labels": lambda a: {**a, "y_train": a["y_train"][:19]},
    "labels 0-9": lambda a: {**a, "y_train": a["y_train"] + 10},
}


@pytest.mark.parametrize("expected, corrupt", BAD_NPZ.items(), ids=list(BAD_NPZ))
def test_wrong_npz_layout_names_the_file_and_the_problem(tmp_path, expected, corrupt):
    path = save_npz(tmp_path / "bad.npz", **corrupt(good_arrays()))
    with pytest.raises(DataError, match=re.escape(expected)) as error:
        load_dataset("mnist", data_path=path)
    assert "bad.npz" in str(error.value)


def test_truncated_and_missing_npz_are_clear_errors(tmp_path):
    good = Path(save_npz(tmp_path / "good.npz", **good_arrays()))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(DataError, match=r"truncated\.npz: not a readable \.npz"):
        load_dataset("mnist", data_path=str(truncated))
    with pytest.raises(DataError, match=r"nope\.npz: file not found"):
        load_dataset("mnist", data_path=str(tmp_path / "nope.npz"))


def write_idx(path: Path, array: np.ndarray, cut: int = 0) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data[: len(data) - cut]))


def test_idx_files_round_trip_and_truncation_is_reported(tmp_path):
    arrays = good_arrays()
    for prefix, x, y in (("train", arrays["x_train"], arrays["y_train"]), ("t10k", arrays["x_test"], arrays["y_test"])):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", y)
    (x_train, _), _ = load_idx_dir(tmp_path)
    assert np.array_equal(x_train, arrays["x_train"])
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", arrays["x_train"], cut=100)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: truncated"):
        read_idx(tmp_path / "train-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="file not found"):
        load_idx_dir(tmp_path / "empty")


@pytest.mark.slow
def test_cli_reports_a_bad_file_in_one_line_without_a_traceback(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip file")
    result = run_trainer("--data-path", str(bad), "--model-dir", str(tmp_path / "m"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("trainer: error: ") and "broken.npz" in last
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_cli_rejects_an_unknown_dataset_as_a_usage_error(tmp_path):
    result = run_trainer("--dataset", "cifar10", "--model-dir", str(tmp_path / "m"))
    assert result.returncode == 2 and "task 'mnist' has no dataset 'cifar10' (choose from mnist," in result.stderr


@pytest.mark.slow
def test_cli_rejects_an_unknown_task_with_one_line_listing_the_tasks(tmp_path):
    result = run_trainer("--task", "cifar", "--model-dir", str(tmp_path / "m"))
    assert result.returncode == 2 and "--task 'cifar': unknown task (tasks: mnist, wine)" in result.stderr
