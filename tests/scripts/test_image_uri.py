"""scripts.image_uri: the image train.yml pushes is the one submit_training runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_config import load_config
from scripts import image_uri


def test_image_uri_is_artifact_registry_in_the_configured_project_and_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("PIPELINE_VERTEX_PROJECT", "my-proj-1")
    monkeypatch.setenv("PIPELINE_VERTEX_REGION", "europe-west4")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    assert image_uri.main(["--profile", "gcp", "--tag", "abc123"]) == 0
    vertex = load_config("gcp").vertex  # the same file's names for the repository and the image
    repository = f"europe-west4-docker.pkg.dev/my-proj-1/{vertex.artifact_registry}"
    image, serving = f"{repository}/{vertex.trainer_image}:abc123", f"{repository}/{vertex.serving_image}:abc123"
    assert capsys.readouterr().out == f"{image}\n{serving}\n"
    assert (tmp_path / "output").read_text() == (
        f"image={image}\nserving_image={serving}\nregistry=europe-west4-docker.pkg.dev\n"
    )


def test_a_prebuilt_serving_image_is_not_ours_to_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_VERTEX_SERVING_IMAGE", "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    assert image_uri.main(["--profile", "gcp", "--tag", "abc123"]) == 0
    assert "serving_image=\n" in (tmp_path / "output").read_text()


def test_image_uri_with_an_unknown_profile_is_a_config_error(capsys) -> None:
    assert image_uri.main(["--profile", "nope", "--tag", "x"]) == 2
    assert capsys.readouterr().err.startswith("image_uri: config: unknown profile 'nope'")
