"""scripts.fetch_model: a model directory copied back from vertex-local's storage and Model Registry.

Uses tests/scripts/conftest.py's `pipeline_env` (the local profile on the session's vertex-local) and
`names` (a model display name of the test's own).
"""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from scripts import fetch_model, register
from scripts.core import cloud
from scripts.core.step import StepError
from scripts.github.model_archive import Limits, unpack


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_fetch_model_copies_every_file_of_a_gs_model_dir(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path
) -> None:
    uri = pipeline_env.stage_model(trained_model_dir, unique_name)
    dest = tmp_path / "model"
    assert fetch_model.main(["--profile", "local", "--model-dir", uri, "--dest", str(dest)]) == 0
    assert files_under(dest) == files_under(trained_model_dir)
    for name in files_under(trained_model_dir):
        assert filecmp.cmp(dest / name, trained_model_dir / name, shallow=False), name


def test_fetch_model_metrics_only_copies_metrics_json_alone(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path
) -> None:
    uri = pipeline_env.stage_model(trained_model_dir, unique_name)
    dest = tmp_path / "card"
    assert fetch_model.main(["--profile", "local", "--model-dir", uri, "--dest", str(dest), "--metrics-only"]) == 0
    assert files_under(dest) == ["metrics.json"]
    assert (dest / "metrics.json").read_bytes() == (trained_model_dir / "metrics.json").read_bytes()


def test_fetch_model_by_version_reads_the_registered_versions_artifacts(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path, capsys
) -> None:
    uri = pipeline_env.stage_model(trained_model_dir, unique_name)
    out = str(tmp_path / "out")
    assert register.main(["--profile", "local", "--model-dir", uri, "--git-sha", "a" * 40, "--out-dir", out]) == 0
    dest = tmp_path / "card"
    args = ["--profile", "local", "--version", "candidate", "--dest", str(dest), "--metrics-only"]
    assert fetch_model.main(args) == 0
    assert (dest / "metrics.json").read_bytes() == (trained_model_dir / "metrics.json").read_bytes()
    assert uri in capsys.readouterr().out


def test_fetch_model_from_an_empty_prefix_fails_with_one_line(
    pipeline_env, unique_name: str, tmp_path: Path, capsys
) -> None:
    uri = f"gs://{pipeline_env.bucket}/{unique_name}/nothing-here/model"
    assert fetch_model.main(["--profile", "local", "--model-dir", uri, "--dest", str(tmp_path / "m")]) == 1
    assert capsys.readouterr().err == f"fetch_model: no metrics.json under {uri}\n"


def test_fetch_model_of_an_unknown_version_names_it(pipeline_env, names, tmp_path: Path, capsys) -> None:
    assert fetch_model.main(["--profile", "local", "--version", "7", "--dest", str(tmp_path / "m")]) == 1
    assert "fetch_model: no model named" in capsys.readouterr().err


def test_fetch_model_copies_a_local_model_dir(trained_model_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy"
    assert fetch_model.main(["--model-dir", str(trained_model_dir), "--dest", str(dest)]) == 0
    assert files_under(dest) == files_under(trained_model_dir)


def test_fetch_model_needs_exactly_one_source(tmp_path: Path, capsys) -> None:
    assert fetch_model.main(["--dest", str(tmp_path)]) == 2
    assert fetch_model.main(["--model-dir", "x", "--version", "1"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_fetch_model_refuses_an_object_name_that_climbs_out_of_the_destination(tmp_path: Path) -> None:
    with pytest.raises(StepError, match="points outside"):
        cloud.local_target(tmp_path / "dest", "../../etc/passwd")


def test_fetch_model_by_commit_reads_the_version_registered_for_it(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path
) -> None:
    uri = pipeline_env.stage_model(trained_model_dir, unique_name)
    out = str(tmp_path / "out")
    assert register.main(["--profile", "local", "--model-dir", uri, "--git-sha", "b" * 40, "--out-dir", out]) == 0
    dest = tmp_path / "model"
    assert fetch_model.main(["--profile", "local", "--git-sha", "B" * 40, "--dest", str(dest)]) == 0
    assert files_under(dest) == files_under(trained_model_dir)


def test_fetch_model_packs_the_model_the_release_carries(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path, capsys
) -> None:
    uri = pipeline_env.stage_model(trained_model_dir, unique_name)
    archive = tmp_path / "card" / "model.tar.gz"
    args = ["--profile", "local", "--model-dir", uri, "--dest", str(tmp_path / "model"), "--archive", str(archive)]
    assert fetch_model.main(args) == 0
    unpack(archive, tmp_path / "unpacked", Limits(1 << 30, 1 << 30, 64))
    assert files_under(tmp_path / "unpacked") == files_under(trained_model_dir)
    for name in files_under(trained_model_dir):
        assert filecmp.cmp(tmp_path / "unpacked" / name, trained_model_dir / name, shallow=False), name
    assert f"into {archive} (" in capsys.readouterr().out


def test_fetch_model_refuses_to_pack_a_model_past_the_release_limits(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("PIPELINE_RELEASE_MAX_UNPACKED_BYTES", "1000")
    uri = pipeline_env.stage_model(trained_model_dir, unique_name)
    archive = tmp_path / "card" / "model.tar.gz"
    args = ["--profile", "local", "--model-dir", uri, "--dest", str(tmp_path / "model"), "--archive", str(archive)]
    assert fetch_model.main(args) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith("fetch_model: the model cannot be packed for the Release: ") and "over the limit of 1,000" in err
    )
    assert not archive.exists()


def test_fetch_model_archive_flags_that_cannot_work_are_usage_errors(tmp_path: Path, capsys) -> None:
    dest, archive = tmp_path / "model", tmp_path / "card" / "model.tar.gz"
    base = ["--model-dir", "gs://b/run/model", "--dest", str(dest)]
    assert fetch_model.main([*base, "--archive", str(archive), "--metrics-only"]) == 2
    assert "--archive packs the whole model: it cannot be combined with --metrics-only" in capsys.readouterr().err
    assert fetch_model.main([*base, "--archive", str(archive.with_name("model.zip"))]) == 2
    assert "--archive must be a file named model.tar.gz, got model.zip" in capsys.readouterr().err
    dest.mkdir()
    (dest / "stray.txt").write_text("left over")
    assert fetch_model.main([*base, "--archive", str(archive)]) == 2
    assert f"--dest {dest} is not empty: --archive would pack what else is in it" in capsys.readouterr().err
    assert not archive.parent.exists()


@pytest.mark.parametrize(("flag", "value"), [("--version", ""), ("--version", "1@2"), ("--git-sha", "")])
def test_fetch_model_version_flags_vertex_could_not_name_are_usage_errors(flag: str, value: str, capsys) -> None:
    assert fetch_model.main([flag, value]) == 2
    assert f"argument {flag}: " in capsys.readouterr().err


def test_fetch_model_without_a_kept_verdict_fails_before_any_release_could_use_it(
    pipeline_env, names, trained_model_dir: Path, unique_name: str, tmp_path: Path, capsys
) -> None:
    uri = pipeline_env.stage_model(trained_model_dir, unique_name)
    args = [
        "--profile",
        "local",
        "--model-dir",
        uri,
        "--dest",
        str(tmp_path / "m"),
        "--verdict-dest",
        str(tmp_path / "v"),
    ]
    assert fetch_model.main(args) == 1
    assert capsys.readouterr().err == (
        f"fetch_model: no gate verdict kept beside {uri} (in gs://{pipeline_env.bucket}/{unique_name}/gate/): "
        "was it registered by train.yml?\n"
    )
