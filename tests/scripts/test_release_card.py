"""scripts.release_card and report --production-from-release: the GitHub Release model card via `gh`.

GitHub is out of reach here, so `gh` is tests/support/gh_cli.py on PATH: it logs each call, serves the
latest Release's assets (or answers "release not found"), or fails with GitHub's error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import release_card, report
from tests.support.gh_cli import GhStandIn


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GhStandIn:
    return GhStandIn.install(tmp_path, monkeypatch)


def card(tmp_path: Path, *plots: str) -> Path:
    """A card folder as release.yml's deploy job hands it on: metrics.json, model.tar.gz, report.md, charts."""
    folder = tmp_path / "card"
    folder.mkdir(exist_ok=True)
    (folder / "metrics.json").write_text("{}")
    (folder / "model.tar.gz").write_bytes(b"\x1f\x8b")
    (folder / "report.md").write_text(f"{report.MARKER}\n")
    for name in plots:
        (folder / name).write_bytes(b"\x89PNG")
    return folder


def publish_args(folder: Path, tag: str = "v0.1.0") -> list[str]:
    files = ["--metrics", folder / "metrics.json", "--model", folder / "model.tar.gz", "--report", folder / "report.md"]
    return ["publish", "--tag", tag, *map(str, files), "--plots-dir", str(folder)]


def test_publish_creates_the_release_for_a_new_tag_with_the_card_the_model_and_every_chart(
    gh: GhStandIn, tmp_path: Path, capsys
) -> None:
    folder = card(tmp_path, "training_curve.png", "per_class_accuracy.png", "regressions.png")
    (folder / "notes.txt").write_text("not a chart")
    assert release_card.main(publish_args(folder)) == 0
    create = gh.calls()[-1]
    files = " ".join(str(folder / name) for name in ("metrics.json", "model.tar.gz", "report.md"))
    charts = " ".join(
        str(folder / name) for name in ("per_class_accuracy.png", "regressions.png", "training_curve.png")
    )
    assert create.startswith(f"release create v0.1.0 {files} {charts} --verify-tag")
    assert f"--notes-file {folder / 'report.md'}" in create and "notes.txt" not in create
    assert (
        "created Release v0.1.0: metrics.json, model.tar.gz, report.md, per_class_accuracy.png"
        in capsys.readouterr().out
    )


def test_publish_completes_an_existing_release_without_assets_and_replaces_nothing(
    gh: GhStandIn, tmp_path: Path
) -> None:
    """A Release made by hand (or cut short) gets the card's assets; nothing is uploaded with --clobber."""
    gh.existing_tag("v0.1.0")
    folder = card(tmp_path, "training_curve.png")
    assert release_card.main(publish_args(folder)) == 0
    calls = gh.calls()
    assets = " ".join(str(folder / n) for n in ("metrics.json", "model.tar.gz", "report.md", "training_curve.png"))
    assert f"release upload v0.1.0 {assets}" in calls
    assert f"release edit v0.1.0 --notes-file {folder / 'report.md'}" in calls
    assert not any(call.startswith("release create") or "--clobber" in call for call in calls)


def published_card(gh: GhStandIn, folder: Path) -> None:
    """The existing Release for v0.1.0 carries exactly this card folder's assets."""
    gh.existing_tag("v0.1.0")
    for name in ("metrics.json", "model.tar.gz", "report.md", "training_curve.png"):
        gh.publish(name, folder / name)


def test_publishing_the_same_card_again_for_a_tag_changes_nothing(gh: GhStandIn, tmp_path: Path, capsys) -> None:
    """A re-run of release.yml for the same tag: the Release already holds these exact bytes."""
    folder = card(tmp_path, "training_curve.png")
    published_card(gh, folder)
    assert release_card.main(publish_args(folder)) == 0
    assert not [call for call in gh.calls() if call.split()[1] in ("upload", "edit", "create", "delete")]
    assert "release_card: Release v0.1.0 already has these assets; nothing changed" in capsys.readouterr().out


@pytest.mark.parametrize("changed", ["model.tar.gz", "report.md", "extra.png", "training_curve.png-removed"])
def test_publishing_a_different_card_over_an_existing_release_is_refused(
    gh: GhStandIn, tmp_path: Path, capsys, changed: str
) -> None:
    """A re-used or moved tag that redeployed: the published model and card stay as they were."""
    folder = card(tmp_path, "training_curve.png")
    published_card(gh, folder)
    if changed == "extra.png":
        (folder / changed).write_bytes(b"\x89PNG another chart")
    elif changed.endswith("-removed"):
        (folder / changed.removesuffix("-removed")).unlink()
    else:
        (folder / changed).write_bytes(b"other bytes")
    assert release_card.main(publish_args(folder)) == 1
    err = capsys.readouterr().err
    name = changed.removesuffix("-removed")
    assert err.startswith("release_card: Release v0.1.0 already exists with other assets (") and name in err
    assert len(err.splitlines()) == 1
    assert not [call for call in gh.calls() if call.split()[1] in ("upload", "edit", "create", "delete")]


def test_an_existing_release_whose_assets_cannot_be_read_is_not_published_over(
    gh: GhStandIn, tmp_path: Path, capsys
) -> None:
    (tmp_path / "old").mkdir()
    published_card(gh, card(tmp_path / "old", "training_curve.png"))
    folder = card(tmp_path)
    gh.fail("HTTP 502: Bad Gateway (https://api.github.com/repos/me/repo/releases)")
    assert release_card.main(publish_args(folder)) == 1
    assert "HTTP 502: Bad Gateway" in capsys.readouterr().err
    assert not [call for call in gh.calls() if call.split()[1] in ("upload", "edit", "create", "delete")]


@pytest.mark.parametrize(("flag", "name"), [("--metrics", "metrics.json"), ("--model", "model.tar.gz")])
def test_publish_refuses_an_asset_under_another_name_than_pull_requests_download(
    gh: GhStandIn, tmp_path: Path, capsys, flag: str, name: str
) -> None:
    args = publish_args(card(tmp_path))
    args[args.index(flag) + 1] = str(tmp_path / "card" / "report.md")
    assert release_card.main(args) == 1
    assert f"{flag} must be a file named {name}, got report.md" in capsys.readouterr().err
    assert gh.calls() == []


def test_publish_without_the_model_archive_fails_before_any_release_is_made(
    gh: GhStandIn, tmp_path: Path, capsys
) -> None:
    folder = card(tmp_path)
    (folder / "model.tar.gz").unlink()
    assert release_card.main(publish_args(folder)) == 1
    assert capsys.readouterr().err == f"release_card: {folder / 'model.tar.gz'}: no such file\n"
    assert gh.calls() == []


def test_latest_release_metrics_become_the_reports_production(
    gh: GhStandIn, trained_model_dir: Path, tmp_path: Path
) -> None:
    gh.publish("metrics.json", trained_model_dir / "metrics.json")
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    markdown = output.read_text()
    production = json.loads((trained_model_dir / "metrics.json").read_text())
    assert "| accuracy |" in markdown and "+0.00 pp" in markdown
    assert f"`{production['data_fingerprint']}` | `{production['data_fingerprint']}`" in markdown


def test_no_release_yet_means_the_first_run(gh: GhStandIn, trained_model_dir: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    assert "No production model yet (first run)" in output.read_text()
    assert "no GitHub Release with a metrics.json yet" in capsys.readouterr().out


def test_without_gh_the_report_fails_with_one_clear_line_and_exit_1_as_release_card_does(
    trained_model_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nowhere to find gh
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(tmp_path / "r.md")]) == 1  # GitHub's tool, not a usage error
    assert capsys.readouterr().err.startswith("report: the GitHub CLI `gh` is not installed")


BAD_GATEWAY = "HTTP 502: Bad Gateway (https://api.github.com/repos/me/repo/releases/latest)"


@pytest.mark.parametrize("failure", [BAD_GATEWAY, "error connecting to api.github.com", ""])
def test_a_failed_release_download_is_unavailable_not_absent(gh: GhStandIn, tmp_path: Path, failure: str) -> None:
    if not failure:  # gh dies without a word
        (tmp_path / "gh-bin" / "gh").write_text("#!/usr/bin/env bash\nexit 4\n")
    gh.fail(failure)
    with pytest.raises(release_card.ReleaseUnavailable, match="gh release download failed"):
        release_card.download_latest_metrics(tmp_path / "dl", None)


def test_the_report_says_the_baseline_is_unavailable_when_the_download_fails(
    gh: GhStandIn, trained_model_dir: Path, tmp_path: Path, capsys
) -> None:
    gh.fail(BAD_GATEWAY)
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    markdown = output.read_text()
    assert f"_Production baseline unavailable (gh release download failed: {BAD_GATEWAY}): no deltas" in markdown
    assert "first run" not in markdown
    assert "::warning::report: production baseline unavailable" in capsys.readouterr().out


def test_a_latest_release_with_an_unusable_metrics_json_is_unavailable_too(
    gh: GhStandIn, trained_model_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1}')
    gh.publish("metrics.json", broken)
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--output", str(output)]) == 0
    assert "_Production baseline unavailable (latest release metrics.json: missing key 'model')" in output.read_text()


def test_a_baseline_already_known_to_be_unavailable_is_said_so_without_asking_github_again(
    gh: GhStandIn, trained_model_dir: Path, tmp_path: Path
) -> None:
    gh.publish("metrics.json", trained_model_dir / "metrics.json")  # would give unpaired deltas if it were asked
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    reason = "gh release download failed: HTTP 503: Service Unavailable"
    assert report.main([*args, "--baseline-unavailable", f" {reason}\n", "--output", str(output)]) == 0
    assert f"_Production baseline unavailable ({reason}): no deltas this time._" in output.read_text()
    assert gh.calls() == []


def test_an_empty_baseline_unavailable_means_nothing_went_wrong(
    gh: GhStandIn, trained_model_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "report.md"
    args = ["--metrics", str(trained_model_dir / "metrics.json"), "--production-from-release"]
    assert report.main([*args, "--baseline-unavailable", "", "--output", str(output)]) == 0
    assert "No production model yet (first run)" in output.read_text()
    assert gh.calls()[0].startswith("release download --pattern metrics.json")
