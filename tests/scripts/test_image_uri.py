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
    image = f"europe-west4-docker.pkg.dev/my-proj-1/{vertex.artifact_registry}/{vertex.trainer_image}:abc123"
    assert capsys.readouterr().out == f"{image}\n"
    assert (tmp_path / "output").read_text() == f"image={image}\nregistry=europe-west4-docker.pkg.dev\n"


def test_image_uri_with_an_unknown_profile_is_a_config_error(capsys) -> None:
    assert image_uri.main(["--profile", "nope", "--tag", "x"]) == 2
    assert capsys.readouterr().err.startswith("image_uri: config: unknown profile 'nope'")
