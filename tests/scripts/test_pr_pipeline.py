"""pr.yml's Accuracy gate job as the runner runs it: Seed, Gate and Report, the YAML's own commands, in order.

Against the session's real vertex-local (standing in for the one `make up` starts on the runner), with the `gh`
stand-in serving the latest Release: its model.tar.gz packed from a real trained model, or GitHub's 502. The
training step itself is left out (its job is tested in test_submit_training.py): the candidate is a real trained
model staged in the bucket, as the Train step leaves it. The job's PIPELINE_TRAINING_DATASET (full MNIST) is not
applied: nothing here trains, and the gate takes the test split from the candidate's own metrics.json.

Two jobs find no production model, the first-run job (no Release yet) and the passing job while GitHub fails (its
Seed seeds nothing either). The Gate reads the candidate, the thresholds and the registry, never the Seed's files:
with the same threshold, both jobs' Gates would be the same run, so the first-run job's Gate (a process importing
TensorFlow and the SDK, ~7 CPU-s) serves both: the passing job gets what it wrote, after its own Seed, and asserts
that its Seed seeded nothing and that the verdict applied its own threshold.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from pathlib import Path

import pytest

from pipeline_config import load_config
from scripts.github.model_archive import Limits, pack
from tests.support.gh_cli import GhStandIn
from tests.support.pipeline_steps import Names, set_names
from tests.support.vertex_local_server import VertexLocal
from tests.support.workflow_steps import StepRan, job_folder, run_step

BAD_GATEWAY = "HTTP 502: Bad Gateway (https://api.github.com/repos/me/repo/releases/latest)"
# What the job's env: gives its steps on the runner (GH_TOKEN: github.token, read-only).
JOB_ENV = {"GH_TOKEN": "read-only", "RUN_URL": "https://github.com/me/repo/actions/runs/42", "PR_NUMBER": "17",
           "GIT_SHA": "c0ffee" * 6 + "abcd", "GITHUB_REPOSITORY": "me/repo"}  # fmt: skip
TRAINED_JOB = "projects/p/locations/us-central1/customJobs/1"  # steps.train.outputs.job


@dataclasses.dataclass(frozen=True)
class JobRun:
    seed: StepRan
    gate: StepRan
    report: StepRan
    folder: Path

    @property
    def failed(self) -> bool:
        """A step exiting non-zero fails the job (the Report step runs whatever the gate said)."""
        return any(ran.status != 0 for ran in (self.seed, self.gate, self.report))

    def verdict(self) -> dict:
        return json.loads((self.folder / "out" / "gate.json").read_text())

    def markdown(self) -> str:
        return (self.folder / "out" / "report" / "report.md").read_text()


def seed_step(folder: Path) -> StepRan:
    seed = run_step("pr.yml", "pipeline", "Seed production from the latest Release", folder, JOB_ENV)
    assert seed.status == 0, seed.stderr  # whatever GitHub does, seeding never fails the job
    return seed


def gate_step(folder: Path, candidate: str) -> StepRan:
    return run_step("pr.yml", "pipeline", "Gate", folder, {**JOB_ENV, "MODEL_DIR": candidate})


def out_files(folder: Path) -> dict[str, bytes]:
    out = folder / "out"
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def report_step(folder: Path, seed: StepRan, gate: StepRan, trained_model_dir: Path) -> JobRun:
    """Fetch the model and Report after the Seed and Gate steps that ran in `folder`, with their outputs."""
    (folder / "out" / "model").mkdir()  # the Fetch the model step: the candidate's metrics.json
    (folder / "out" / "model" / "metrics.json").write_bytes((trained_model_dir / "metrics.json").read_bytes())
    unavailable = seed.outputs["unavailable"]  # steps.seed.outputs.unavailable
    report_env = {**JOB_ENV, "JOB": TRAINED_JOB, "BASELINE_UNAVAILABLE": unavailable}
    report = run_step("pr.yml", "pipeline", "Report", folder, report_env)
    assert report.status == 0, report.stderr
    assert (folder / "out" / "report" / "pr-number.txt").read_text() == "17\n"
    return JobRun(seed, gate, report, folder)


def gate_and_report(folder: Path, seed: StepRan, candidate: str, trained_model_dir: Path) -> JobRun:
    """Gate and Report after the Seed step that ran in `folder`, with its outputs, as on GitHub."""
    return report_step(folder, seed, gate_step(folder, candidate), trained_model_dir)


def accuracy_gate_job(tmp_path: Path, candidate: str, trained_model_dir: Path) -> JobRun:
    """Seed, Gate, Report as pr.yml runs them; each later step gets the earlier ones' outputs, as on GitHub."""
    folder = job_folder(tmp_path)
    return gate_and_report(folder, seed_step(folder), candidate, trained_model_dir)


@dataclasses.dataclass(frozen=True)
class Seeded:
    """The Seed step while GitHub answers 502, and the job's folder after it."""

    seed: StepRan
    folder: Path
    names: Names  # the model the job's steps use
    gh_calls: list[str]  # what the Seed step asked GitHub


@pytest.fixture(scope="module")
def seeded_while_github_fails(pipeline_env: VertexLocal, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    """Seed does the same whatever threshold the Gate applies after it: one run for both thresholds' jobs."""
    root = tmp_path_factory.mktemp("github-fails")
    with pytest.MonkeyPatch.context() as patch:
        names = set_names(patch, "github-fails")
        gh = GhStandIn.install(root, patch)
        gh.fail(BAD_GATEWAY)
        folder = job_folder(root)
        seed = seed_step(folder)
    return Seeded(seed, folder, names, gh.calls())


@dataclasses.dataclass(frozen=True)
class FirstRun:
    """The whole job before the first Release, and what its Gate step wrote under out/."""

    job: JobRun
    gh_calls: list[str]  # what the job asked GitHub
    gate_files: dict[str, bytes]  # path under out/ -> content


@pytest.fixture(scope="module")
def first_run(staged_candidate: str, trained_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """Seed (no Release yet: nothing seeded), Gate, Report in order, once for the module (see the docstring)."""
    root = tmp_path_factory.mktemp("first-run")
    with pytest.MonkeyPatch.context() as patch:
        set_names(patch, "first-run")
        gh = GhStandIn.install(root, patch)
        folder = job_folder(root)
        seed = seed_step(folder)
        before = out_files(folder)
        gate = gate_step(folder, staged_candidate)
        written = {name: data for name, data in out_files(folder).items() if before.get(name) != data}
        job = report_step(folder, seed, gate, trained_model_dir)
    return FirstRun(job, gh.calls(), written)


@pytest.fixture(scope="module")
def staged_candidate(pipeline_env: VertexLocal, trained_model_dir: Path) -> str:
    """The candidate as the Train step leaves it in the bucket, staged once for the module's four jobs: the Gate
    reads it and writes nothing beside it (Keep the verdict, which does, is train.yml's)."""
    return pipeline_env.stage_model(trained_model_dir, f"pr-candidate-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GhStandIn:
    return GhStandIn.install(tmp_path, monkeypatch)


def test_the_pull_request_gate_pairs_the_candidate_with_the_releases_production_model(
    gh: GhStandIn, names: Names, staged_candidate: str, trained_model_dir: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "release" / "model.tar.gz"
    archive.parent.mkdir()
    pack(trained_model_dir, archive, Limits(**dataclasses.asdict(load_config().release)))
    gh.publish("model.tar.gz", archive)
    job = accuracy_gate_job(tmp_path, staged_candidate, trained_model_dir)
    assert job.seed.outputs == {"seeded": "true", "version_id": "1", "unavailable": ""}
    verdict = job.verdict()
    assert not job.failed and verdict["passed"] is True and verdict["rule"] == "not_worse"
    assert verdict["production"]["version_id"] == "1" and verdict["comparison"]["p_value"] == 1
    markdown = job.markdown()
    assert "### Candidate vs production on the same digits" in markdown and "| production v1 |" in markdown
    assert "McNemar exact p (alpha 0.05) | 1.000 |" in markdown and "### Cost" in markdown
    assert "baseline unavailable" not in markdown and "first run" not in markdown
    assert [call.split()[:4] for call in gh.calls()] == [["release", "download", "--pattern", "model.tar.gz"]]


# The gate passes (the session's threshold, 0.8: the first-run job's Gate, see the docstring), then rejects (its own).
@pytest.mark.parametrize("min_accuracy", [None, "0.999"], ids=["0.8", "0.999"])
def test_the_accuracy_gate_job_fails_exactly_when_the_gate_rejects_even_if_github_fails(
    seeded_while_github_fails: Seeded, first_run: FirstRun, staged_candidate: str, gh: GhStandIn,
    trained_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_accuracy: str | None,
) -> None:  # fmt: skip
    seeded = seeded_while_github_fails
    monkeypatch.setenv("PIPELINE_VERTEX_MODEL_DISPLAY_NAME", seeded.names.model)  # the job's steps share its model
    monkeypatch.setenv("PIPELINE_VERTEX_ENDPOINT_DISPLAY_NAME", seeded.names.endpoint)
    if min_accuracy is not None:
        monkeypatch.setenv("PIPELINE_GATE_MIN_ACCURACY", min_accuracy)
    gh.fail(BAD_GATEWAY)  # still failing, should a later step ask
    folder = shutil.copytree(seeded.folder, tmp_path / "job", symlinks=True)  # this threshold's job, after Seed
    assert seeded.seed.outputs["seeded"] == "false"  # no production: the registry as the first-run job's Gate saw it
    if min_accuracy is None:  # the first-run job's Gate, run with this same threshold
        gate = first_run.job.gate
        for name, data in first_run.gate_files.items():
            (folder / "out" / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / "out" / name).write_bytes(data)
    else:
        gate = gate_step(folder, staged_candidate)
    job = report_step(folder, seeded.seed, gate, trained_model_dir)
    verdict = job.verdict()
    assert verdict["thresholds"]["min_accuracy"] == float(min_accuracy or load_config().gate.min_accuracy)
    passed = verdict["passed"]
    assert passed == (min_accuracy is None) and job.gate.status == (0 if passed else 1)
    assert job.failed == (not passed)
    assert job.seed.outputs["unavailable"] == f"gh release download failed: {BAD_GATEWAY}"
    markdown = job.markdown()
    assert ("✅ **Gate passed**" if passed else "❌ **Gate failed**") in markdown
    assert f"_Production baseline unavailable (gh release download failed: {BAD_GATEWAY}): no deltas" in markdown
    assert "first run" not in markdown
    assert len(seeded.gh_calls) == 1 and gh.calls() == []  # the report did not ask GitHub a second time


def test_before_the_first_release_the_pull_request_gate_passes_as_a_first_run(first_run: FirstRun) -> None:
    job = first_run.job
    assert job.seed.outputs == {"seeded": "false", "version_id": "", "unavailable": ""}
    verdict = job.verdict()
    assert not job.failed and verdict["rule"] == "first_release" and verdict["production"] is None
    markdown = job.markdown()
    assert "_No production model yet (first run): nothing to compare against, no deltas._" in markdown
    assert "Candidate vs production" not in markdown and "baseline unavailable" not in markdown.lower()
    # The Report step asked the Release for a metrics.json too (a Release from before model.tar.gz): none either.
    assert [call.split()[:4] for call in first_run.gh_calls] == [["release", "download", "--pattern", name] for name in
                                                                 ("model.tar.gz", "metrics.json")]  # fmt: skip
