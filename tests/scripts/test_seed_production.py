"""scripts.seed_production against the session's real vertex-local, with a real trained model in the Release.

The latest Release's model.tar.gz is built here from the real trainer's output (tests/conftest.py's
trained_model_dir) and served by the `gh` stand-in (tests/support/gh_cli.py); hostile archives are written
with tarfile, as someone able to publish a Release asset could.
"""

from __future__ import annotations

import dataclasses
import filecmp
import io
import json
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from pipeline_config import load_config
from scripts import seed_production
from scripts.core import registry
from scripts.core.cloud import download_dir, storage_client
from scripts.github.model_archive import Limits, pack
from tests.support.gh_cli import GhStandIn
from tests.support.pipeline_steps import Names, StepRun, gate_run, step
from tests.support.vertex_local_server import VertexLocal

BAD_GATEWAY = "HTTP 502: Bad Gateway (https://api.github.com/repos/me/repo/releases/latest)"


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GhStandIn:
    monkeypatch.setenv("GITHUB_REPOSITORY", "me/repo")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "github_output"))
    return GhStandIn.install(tmp_path, monkeypatch)


def seed(out_dir: Path) -> tuple[StepRun, dict]:
    result = step(seed_production.main, "--out-dir", str(out_dir))
    written = out_dir / "seed_production.json"
    return result, json.loads(written.read_text()) if written.exists() else {}


def outputs(tmp_path: Path) -> str:
    return (tmp_path / "github_output").read_text()


def release_archive(model_dir: Path, folder: Path) -> Path:
    """model.tar.gz as release.yml packs it (scripts.fetch_model --archive)."""
    folder.mkdir(parents=True, exist_ok=True)
    pack(model_dir, folder / "model.tar.gz", Limits(**dataclasses.asdict(load_config().release)))
    return folder / "model.tar.gz"


def seeded_objects(server: VertexLocal) -> list[str]:
    return [blob.name for blob in server.storage_client().list_blobs(server.bucket, prefix=seed_production.PREFIX)]


def test_the_releases_model_becomes_production_and_the_gate_pairs_the_candidate_with_it(
    gh: GhStandIn, names: Names, pipeline_env: VertexLocal, trained_model_dir: Path, unique_name: str, tmp_path: Path
) -> None:
    gh.publish("model.tar.gz", release_archive(trained_model_dir, tmp_path / "release"))
    result, record = seed(tmp_path / "out")
    assert result.status == 0, result.stderr
    (call,) = gh.calls()
    assert call.startswith("release download --pattern model.tar.gz --dir ") and call.endswith(
        " --clobber --repo me/repo"
    )
    production = registry.production_version(names.model)
    assert production is not None and record["seeded"] is True
    assert production.version_id == record["version_id"] == "1" and set(production.version_aliases) >= {"production"}
    assert production.uri.rstrip("/") == record["artifact_uri"]
    back = tmp_path / "back"
    download_dir(record["artifact_uri"], back, storage_client(load_config()))
    files = sorted(p.relative_to(trained_model_dir) for p in trained_model_dir.rglob("*") if p.is_file())
    assert sorted(p.relative_to(back) for p in back.rglob("*") if p.is_file()) == files
    assert all(filecmp.cmp(back / name, trained_model_dir / name, shallow=False) for name in files)
    assert outputs(tmp_path) == "seeded=true\nversion_id=1\nunavailable=\n"
    assert (
        f"seed_production: {names.model} v1 (" in result.stdout
        and "is production, from the latest Release" in result.stdout
    )

    candidate = pipeline_env.stage_model(trained_model_dir, unique_name)
    gated, verdict = gate_run(names, candidate, tmp_path / "gate")
    assert gated.status == 0, gated.stderr
    assert verdict["production"]["version_id"] == "1" and verdict["production"]["model_dir"] == record["artifact_uri"]
    assert verdict["production"]["same_test_split"] is True and verdict["rule"] == "not_worse"
    assert verdict["comparison"]["digits"] == 1000 and verdict["comparison"]["p_value"] == 1


def test_no_release_yet_seeds_nothing_and_the_gate_says_first_run(
    gh: GhStandIn, names: Names, pipeline_env: VertexLocal, trained_model_dir: Path, unique_name: str, tmp_path: Path
) -> None:
    result, record = seed(tmp_path / "out")
    assert result.status == 0, result.stderr
    assert record == {"seeded": False} and registry.find_model(names.model) is None
    assert outputs(tmp_path) == "seeded=false\nversion_id=\nunavailable=\n"
    assert "no GitHub Release with a model.tar.gz yet: no production to compare with" in result.stdout
    gated, verdict = gate_run(names, pipeline_env.stage_model(trained_model_dir, unique_name), tmp_path / "gate")
    assert gated.status == 0 and verdict["rule"] == "first_release" and verdict["comparison"] is None


def test_a_release_from_before_releases_carried_the_model_seeds_nothing(
    gh: GhStandIn, names: Names, trained_model_dir: Path, tmp_path: Path
) -> None:
    gh.publish("metrics.json", trained_model_dir / "metrics.json")  # the report can still read its metrics.json
    result, record = seed(tmp_path / "out")
    assert result.status == 0 and record == {"seeded": False} and registry.find_model(names.model) is None


def test_github_failing_leaves_the_baseline_unavailable_exit_0_and_nothing_registered(
    gh: GhStandIn, names: Names, pipeline_env: VertexLocal, trained_model_dir: Path, tmp_path: Path
) -> None:
    gh.publish("model.tar.gz", release_archive(trained_model_dir, tmp_path / "release"))
    gh.fail(BAD_GATEWAY)
    before = seeded_objects(pipeline_env)
    result, record = seed(tmp_path / "out")
    assert result.status == 0, result.stderr
    reason = f"gh release download failed: {BAD_GATEWAY}"
    assert record == {"seeded": False, "unavailable": reason}
    assert outputs(tmp_path) == f"seeded=false\nversion_id=\nunavailable={reason}\n"
    assert f"::warning::seed_production: production baseline unavailable: {reason}" in result.stdout
    assert registry.find_model(names.model) is None and seeded_objects(pipeline_env) == before


def with_member(model_dir: Path, archive: Path, hostile: tarfile.TarInfo, data: bytes = b"") -> Path:
    """The real model's files plus one hostile member, written by tarfile (which checks none of the rules)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
            tar.add(path, arcname=str(path.relative_to(model_dir)))
        tar.addfile(hostile, io.BytesIO(data) if hostile.isreg() else None)
    return archive


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data) if kind == tarfile.REGTYPE else 0, linkname
    return info


ESCAPED = f"escaped-{uuid.uuid4().hex[:8]}.txt"
HOSTILE = {
    "traversal": (member(f"../../{ESCAPED}", data=b"owned"), b"owned", "is not a plain relative path"),
    "symlink": (member("variables/evil", tarfile.SYMTYPE, linkname="/etc/passwd"), b"", "is not a regular file"),
    "hard link": (member("evil", tarfile.LNKTYPE, linkname="saved_model.pb"), b"", "is not a regular file"),
    "300-byte name": (member("n" * 300, data=b"x"), b"x", "has a part over 255 bytes"),
    "oversize member": (member("assets/big.bin", data=b"\0" * 300_000), b"\0" * 300_000, "bytes of files, over"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_release_archive_is_refused_and_nothing_reaches_the_bucket_or_the_registry(
    gh: GhStandIn,
    names: Names,
    pipeline_env: VertexLocal,
    trained_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    hostile, data, says = HOSTILE[case]
    model_bytes = sum(p.stat().st_size for p in trained_model_dir.rglob("*") if p.is_file())
    monkeypatch.setenv("PIPELINE_RELEASE_MAX_UNPACKED_BYTES", str(model_bytes + 100_000))  # the model fits alone
    gh.publish("model.tar.gz", with_member(trained_model_dir, tmp_path / "release" / "model.tar.gz", hostile, data))
    before = seeded_objects(pipeline_env)
    result, record = seed(tmp_path / "out")
    assert result.status == 0, result.stderr
    assert record["seeded"] is False and record["unavailable"].startswith(
        "the latest Release's model.tar.gz was refused"
    )
    assert (
        says in record["unavailable"] and "::warning::seed_production: production baseline unavailable" in result.stdout
    )
    assert registry.find_model(names.model) is None and seeded_objects(pipeline_env) == before
    assert not (Path(tempfile.gettempdir()) / ESCAPED).exists() and not list(tmp_path.rglob(ESCAPED))


@pytest.mark.parametrize(
    ("files", "says"),
    [(["metrics.json"], "holds no saved_model.pb"), (["saved_model.pb"], "holds no metrics.json")],
)
def test_an_archive_that_is_not_a_model_the_gate_can_read_is_refused(
    gh: GhStandIn, names: Names, trained_model_dir: Path, tmp_path: Path, files: list[str], says: str
) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in files:
        (partial / name).write_bytes((trained_model_dir / name).read_bytes())
    gh.publish("model.tar.gz", release_archive(partial, tmp_path / "release"))
    result, record = seed(tmp_path / "out")
    assert result.status == 0 and says in record["unavailable"] and registry.find_model(names.model) is None


def test_a_registry_that_already_has_production_is_left_alone(
    gh: GhStandIn, names: Names, trained_model_dir: Path, tmp_path: Path
) -> None:
    gh.publish("model.tar.gz", release_archive(trained_model_dir, tmp_path / "release"))
    first, _ = seed(tmp_path / "first")
    again, record = seed(tmp_path / "again")
    assert first.status == again.status == 0
    assert record == {"seeded": False, "version_id": "1", "already": True}
    assert "already holds production; nothing seeded" in again.stdout
    assert len(registry.find_model(names.model).versioning_registry.list_versions()) == 1
    assert len(gh.calls()) == 1  # the second run did not even ask GitHub


def test_limits_that_are_not_positive_are_a_usage_error(
    gh: GhStandIn, names: Names, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_RELEASE_MAX_FILES", "0")
    result, _ = seed(tmp_path / "out")
    assert result.status == 2
    assert result.stderr == "seed_production: config: release.max_files = 0: expected a positive number\n"
    assert gh.calls() == []
