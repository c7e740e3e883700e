"""The trainer image runs, proven without a Docker engine (`make trainer-image-check` runs the real image).

From the Dockerfile and .dockerignore (tests/support/image_tree.py): the files its COPY lines put in the image,
made read-only, and its ENTRYPOINT run in its WORKDIR with its ENV, as its numeric USER (when the tests run as
root, as here and in CI; otherwise as the current user), with a virtualenv that holds only tensorflow-cpu at the
base image's version and trainer/requirements.txt (what the Dockerfile's RUN installs). It trains one epoch to a
gs:// AIP_MODEL_DIR on a real vertex-local, as a Vertex custom job would.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.image_tree import ImageSpec, build_tree, make_read_only, read_dockerfile, remove_tree
from tests.support.once import installed_once
from trainer.check_output import main as check_output

REPO = Path(__file__).resolve().parents[2]
IMAGE_VENV = REPO / ".venv-trainer-image"  # ignored by git; built once per base tag and requirements
BASE_IMAGE = "tensorflow/tensorflow"


@pytest.fixture(scope="module")
def spec() -> ImageSpec:
    return read_dockerfile(REPO / "Dockerfile")


@pytest.fixture
def image_root() -> Iterator[Path]:
    """A scratch / for the image, outside pytest's 0700 temp dirs so the image's user can reach it."""
    root = Path(tempfile.mkdtemp(prefix="trainer-image-"))
    root.chmod(0o755)
    yield root
    remove_tree(root)


def base_interpreter() -> str:
    """A Python of this version that the image's user may run: the system's (pyenv's lives under /root, 0700)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return shutil.which(version, path="/usr/local/bin:/usr/bin:/bin") or sys.executable


def image_python(spec: ImageSpec) -> Path:
    """A virtualenv with only what the image has: TensorFlow at the base tag's version, then the RUN's pip install."""
    image, tag = spec.base_image_and_tag()
    assert image == BASE_IMAGE and tag, f"the test models a {BASE_IMAGE}:<version> base, not {spec.base}"
    requirements = (REPO / "trainer/requirements.txt").read_bytes()
    built_from = f"{base_interpreter()} {tag}".encode() + requirements
    stamp = f".installed-{hashlib.sha256(built_from).hexdigest()[:16]}"
    python = IMAGE_VENV / "bin" / "python"

    def install() -> None:
        subprocess.run([base_interpreter(), "-m", "venv", "--clear", str(IMAGE_VENV)], check=True, timeout=300)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, f"tensorflow-cpu=={tag}"], check=True, timeout=900)
        subprocess.run([*pip, "-r", str(REPO / "trainer/requirements.txt")], check=True, timeout=900)

    installed_once(IMAGE_VENV, stamp, install)  # one worker installs, others wait for it
    return python


def test_the_base_image_is_pinned_by_digest_beside_its_tag(spec) -> None:
    """A re-pushed tag cannot change what Vertex AI runs; the tag stays for readers and `make pin-base-images`."""
    reference, _, digest = spec.base.partition("@")
    assert reference.startswith(f"{BASE_IMAGE}:") and reference.partition(":")[2]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), spec.base


def test_the_dockerfile_installs_the_trainers_requirements_and_runs_the_trainer_as_a_numeric_user(spec) -> None:
    assert any("pip install" in run and "-r trainer/requirements.txt" in run for run in spec.runs)
    assert spec.user.isdigit() and int(spec.user) != 0  # Kubernetes' runAsNonRoot can only check a numeric USER
    assert spec.entrypoint == ("python", "-m", "trainer.task")
    assert spec.workdir == "/app"


def test_the_image_holds_exactly_the_trainers_tracked_sources(spec, image_root) -> None:
    copied = build_tree(spec, REPO, image_root)
    sources = ["trainer", "tasks", "pipeline.toml", "pipeline_config.py", "native_logs.py"]
    tracked = subprocess.run(["git", "ls-files", *sources], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
    assert copied == {f"/app/{name}" for name in tracked}


@pytest.mark.slow
def test_the_images_entrypoint_trains_from_a_read_only_tree_as_its_user_to_a_gs_model_dir(
    spec, image_root, vertex, unique_name
) -> None:
    build_tree(spec, REPO, image_root)
    make_read_only(image_root)
    home = image_root.parent / f"{image_root.name}-home"  # useradd --create-home's /home/trainer
    home.mkdir()
    as_user: dict = {}
    if os.geteuid() == 0:
        os.chown(home, int(spec.user), int(spec.user))
        as_user = {"user": int(spec.user), "group": int(spec.user), "extra_groups": []}
    model_dir = f"gs://test-bucket/{unique_name}/model/"
    python = image_python(spec)
    env = {**spec.env, "HOME": str(home), "PATH": f"{python.parent}:/usr/bin:/bin", "AIP_MODEL_DIR": model_dir,
           "STORAGE_EMULATOR_HOST": vertex.url}  # fmt: skip
    try:
        result = subprocess.run([*spec.entrypoint, "--dataset", "mnist-sample", "--model", "baseline", "--epochs", "1"],
                                cwd=image_root / spec.workdir.lstrip("/"), env=env, capture_output=True, text=True,
                                timeout=600, **as_user)  # fmt: skip
    finally:
        remove_tree(home)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"-> {model_dir}" in result.stdout
    assert check_output(["verify", model_dir]) == 0
