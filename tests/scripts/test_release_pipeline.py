"""From train.yml's verdict to the Release's model card: the workflows' own commands, on real models.

train.yml: the gate compares a real candidate (two_epoch_run, staged in the bucket as a Vertex run leaves it)
with a real production (run_a, tests/scripts/conftest.py's production_a) and Keep the verdict stores it beside
the model; the candidate is registered. release.yml: the deploy job fetches the tagged commit's model and verdict
and packs model.tar.gz, then renders the card (the deploy itself is test_deploy.py's); the release job publishes
through the `gh` stand-in. Cloud steps run with --profile gcp as the YAML says, pointed at the session's
vertex-local by the PIPELINE_* variables, as repository variables point them at a project on GitHub.
"""

from __future__ import annotations

import dataclasses
import filecmp
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_config import load_config
from scripts import keep_verdict, register
from scripts.comparison.verdict_store import EVIDENCE, VERDICT
from scripts.github.model_archive import Limits, unpack
from tests.support.gh_cli import GhStandIn
from tests.support.pipeline_steps import Names, TrainedRun, gate_run, set_names, step
from tests.support.vertex_local_server import VertexLocal
from tests.support.workflow_steps import StepRan, job_folder, run_step

TAGGED = "7a6" * 13 + "d"  # the tagged commit (GITHUB_SHA on a tag push)
RUN_URL = "https://github.com/me/repo/actions/runs/77"


@dataclasses.dataclass(frozen=True)
class Released:
    names: Names
    model_dir: str
    source: Path  # the candidate's files as the trainer wrote them
    train_out: Path  # train.yml's out/: the gate's files
    keep: StepRan
    fetch: StepRan
    card: StepRan
    publish: StepRan
    deploy_job: Path
    gh: GhStandIn


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def released(
    pipeline_env: VertexLocal, production_a: Names, two_epoch_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Released]:
    root = tmp_path_factory.mktemp("released")
    patch = pytest.MonkeyPatch()
    gh = GhStandIn.install(root, patch)
    model_dir = pipeline_env.stage_model(Path(two_epoch_run.model_dir), f"released-{uuid.uuid4().hex[:8]}/runs/1")
    train_job = job_folder(root / "train")
    gated, _ = gate_run(production_a, model_dir, train_job / "out")  # train.yml's Gate, against production v1
    assert gated.status == 0, gated.stderr
    keep = run_step("train.yml", "train", "Keep the verdict with the model", train_job, {"MODEL_DIR": model_dir})
    names = set_names(patch, "released")  # the registry the tag deploys from
    registered = step(register.main, "--model-dir", model_dir, "--git-sha", TAGGED, "--out-dir", str(root / "reg"))
    assert registered.status == 0, registered.stderr
    version_id = json.loads((root / "reg" / "register.json").read_text())["version_id"]
    deploy_job = job_folder(root / "deploy")
    env = {"GITHUB_SHA": TAGGED, "RUN_URL": RUN_URL, "GH_TOKEN": "read-only", "VERSION_ID": version_id}
    fetch = run_step("release.yml", "deploy", "Fetch the tagged commit's model and the gate's verdict", deploy_job, env)
    metrics = run_step("release.yml", "deploy", "Fetch the deployed version's metrics.json", deploy_job, env)
    assert metrics.status == 0, metrics.stderr
    card = run_step("release.yml", "deploy", "Model card", deploy_job, env)
    release_env = {"GH_TOKEN": "write", "GITHUB_REF_NAME": "v0.1.0", "CARD": str(deploy_job / "out" / "card")}
    publish = run_step(
        "release.yml",
        "release",
        "Create the Release (an existing one only if it holds this same card)",
        root,
        release_env,
    )
    source = Path(two_epoch_run.model_dir)
    yield Released(names, model_dir, source, train_job / "out", keep, fetch, card, publish, deploy_job, gh)
    patch.undo()


def test_train_yml_keeps_the_verdict_and_its_evidence_beside_the_model(
    released: Released, pipeline_env: VertexLocal
) -> None:
    assert released.keep.status == 0, released.keep.stderr
    run = released.model_dir.removesuffix("/model")
    kept = json.loads((released.train_out / "keep_verdict.json").read_text())
    assert kept["verdict_dir"] == f"{run}/gate" and released.keep.outputs == {"verdict_dir": f"{run}/gate"}
    prefix = run.removeprefix(f"gs://{pipeline_env.bucket}/") + "/gate/"
    stored = pipeline_env.storage_client().list_blobs(pipeline_env.bucket, prefix=prefix)
    assert sorted(blob.name.removeprefix(prefix) for blob in stored) == sorted([*EVIDENCE, VERDICT])


def test_the_release_fetches_the_models_verdict_and_packs_the_model_before_deploying(released: Released) -> None:
    assert released.fetch.status == 0, released.fetch.stderr
    out = released.deploy_job / "out"
    for name in (VERDICT, *EVIDENCE):
        assert filecmp.cmp(out / "verdict" / name, released.train_out / name, shallow=False), name
    limits = Limits(**dataclasses.asdict(load_config().release))
    unpack(out / "card" / "model.tar.gz", out / "unpacked", limits)
    assert files_under(out / "unpacked") == files_under(out / "model") == files_under(released.source)


def test_the_release_card_shows_the_comparison_the_gate_made_at_training_time(released: Released) -> None:
    assert released.card.status == 0, released.card.stderr
    verdict = json.loads((released.train_out / VERDICT).read_text())
    card = (released.deploy_job / "out" / "card" / "report.md").read_text()
    assert f"**Gate {'passed' if verdict['passed'] else 'failed'}**: {verdict['reason']}\n" in card
    assert "### Candidate vs production on the same digits" in card
    assert f"| production v{verdict['production']['version_id']} | candidate | delta |" in card
    b = verdict["comparison"]["production_only_right"]
    assert f"| production right, candidate wrong | {b} |" in card and "McNemar exact p" in card
    assert "### Cost" in card and "Same digits as above." in card
    assert b > 0 and (released.deploy_job / "out" / "card" / "regressions.png").read_bytes()[:4] == b"\x89PNG"
    assert not any(call.startswith("release download") for call in released.gh.calls())  # production's file was there


def test_the_release_carries_the_card_the_model_and_the_regressed_digits(released: Released) -> None:
    assert released.publish.status == 0, released.publish.stderr
    card = released.deploy_job / "out" / "card"
    names = ["metrics.json", "model.tar.gz", "report.md", "per_class_accuracy.png", "regressions.png",
             "training_curve.png"]  # fmt: skip
    assert released.gh.calls()[-1].startswith(f"release create v0.1.0 {' '.join(str(card / n) for n in names)} ")


def test_a_version_without_a_kept_verdict_stops_the_release_before_it_deploys(
    names: Names, pipeline_env: VertexLocal, trained_model_dir: Path, unique_name: str, tmp_path: Path
) -> None:
    sha = "0dd" * 13 + "1"
    model_dir = pipeline_env.stage_model(trained_model_dir, f"{unique_name}/runs/2")
    registered = step(register.main, "--model-dir", model_dir, "--git-sha", sha, "--out-dir", str(tmp_path / "reg"))
    assert registered.status == 0, registered.stderr
    job = job_folder(tmp_path)
    fetch = run_step("release.yml", "deploy", "Fetch the tagged commit's model and the gate's verdict", job,
                     {"GITHUB_SHA": sha})  # fmt: skip
    assert fetch.status == 1
    assert fetch.stderr.endswith(f"no gate verdict kept beside {model_dir} (in {model_dir.removesuffix('/model')}"
                                 "/gate/): was it registered by train.yml?\n")  # fmt: skip
    assert not (job / "out" / "card" / "model.tar.gz").exists()


def test_keep_verdict_refuses_a_gate_json_that_judged_another_model(
    released: Released, pipeline_env: VertexLocal, unique_name: str, capsys
) -> None:
    other = f"gs://{pipeline_env.bucket}/{unique_name}/runs/3/model"
    result = step(keep_verdict.main, "--model-dir", other, "--out-dir", str(released.train_out))
    assert result.status == 1
    assert result.stderr == f"keep_verdict: {released.train_out / VERDICT} judged {released.model_dir!r}, not {other}\n"
    stored = pipeline_env.storage_client().list_blobs(pipeline_env.bucket, prefix=f"{unique_name}/")
    assert list(stored) == []


def test_keep_verdict_needs_the_gate_to_have_run_and_a_bucket_to_keep_it_in(tmp_path: Path, capsys) -> None:
    result = step(keep_verdict.main, "--model-dir", "gs://b/runs/1/model", "--out-dir", str(tmp_path))
    assert result.status == 1 and result.stderr == f"keep_verdict: no {tmp_path / VERDICT}: run the gate first\n"
    local = step(keep_verdict.main, "--model-dir", str(tmp_path / "model"), "--out-dir", str(tmp_path))
    assert local.status == 2 and "--model-dir must be a gs:// URI" in local.stderr
