"""The command line as a user drives it: exit codes, formats and error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from policywatch.cli import cli

REPO_ROOT = Path(__file__).resolve().parent.parent
REVISED = REPO_ROOT / "docs" / "examples" / "privacy-2026-07.md"


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_check_records_first_then_unchanged_then_a_material_change(site: Path) -> None:
    first = run("check", "--format", "json")
    assert first.exit_code == 0, first.output
    payload = json.loads(first.output)
    assert payload["schema"] == "policywatch.check/1"
    (result,) = payload["results"]
    assert result["policy"] == "privacy" and result["status"] == "first"
    assert result["revision"] and result["error"] is None

    again = json.loads(run("check", "--format", "json").output)
    assert again["results"][0]["status"] == "unchanged"

    (site / "policies" / "privacy.md").write_text(REVISED.read_text())
    changed = json.loads(run("check", "--format", "json").output)["results"][0]
    assert changed["status"] == "changed" and changed["material"] is True
    assert changed["revision"] != result["revision"]

    log = json.loads(run("log", "privacy", "--format", "json").output)
    assert log["schema"] == "policywatch.log/1"
    kinds = [(r["kind"], r["material"]) for r in log["revisions"]]
    assert kinds == [("change", True), ("first", False)]
    assert "material" in log["revisions"][0]["summary"]


def test_editorial_only_edit_is_recorded_as_editorial_and_not_material(site: Path) -> None:
    assert run("check").exit_code == 0
    policy = site / "policies" / "privacy.md"
    text = policy.read_text()
    policy.write_text(
        text.replace("We only collect", "We  only\u00a0collect").replace("'", "\u2019")
    )
    result = json.loads(run("check", "--format", "json").output)["results"][0]
    assert (result["status"], result["material"]) == ("editorial", False)


def test_one_failing_source_exits_1_and_the_others_are_recorded(site: Path) -> None:
    (site / "policies" / "broken.md").write_bytes(b"\x00\x01\x02binary\xff" * 100)
    with open(site / "config.toml", "a") as f:
        f.write('\n[[policy]]\nid = "broken"\ntitle = "Broken"\nsource = "policies/broken.md"\n')
    result = run("check", "--format", "json")
    assert result.exit_code == 1
    statuses = {r["policy"]: r for r in json.loads(result.output)["results"]}
    assert statuses["privacy"]["status"] == "first"
    assert statuses["broken"]["status"] == "error" and statuses["broken"]["revision"] is None
    assert "binary" in statuses["broken"]["error"]
    assert [
        r["policy"] for r in json.loads(run("log", "--format", "json").output)["revisions"]
    ] == ["privacy"]


def test_diff_of_two_files_in_every_format(site: Path) -> None:
    old, new = "policies/privacy.md", str(REVISED)
    as_json = json.loads(run("diff", old, new, "--format", "json").output)
    assert as_json["schema"] == "policywatch.diff/1"
    assert as_json["material"] is True
    assert as_json["old"]["name"] == old and as_json["old"]["revision"] is None
    kinds = {c["kind"] for c in as_json["changes"]}
    assert {"added", "modified", "moved", "editorial"} <= kinds
    text = run("diff", old, new, "--no-color").output
    assert "\x1b[" not in text and "advertising partners" in text
    assert "\x1b[" in run("diff", old, new, "--color").output
    html = run("diff", old, new, "--format", "html").output
    assert "<del" in html or "<ins" in html
    assert "## " in run("diff", old, new, "--format", "markdown").output or "**" in html


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda d: None, "no such file"),
        (lambda d: (d / "a.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50), "binary"),
        (lambda d: (d / "a.md").write_text("---\ntitle: [unclosed\n---\n# x\n"), "front matter"),
        (lambda d: (d / "a.md").write_bytes("# caf\xe9\n".encode("latin-1")), "charset"),
    ],
)
def test_diff_bad_input_is_a_clear_error_with_exit_2(
    tmp_path: Path, setup: object, needle: str
) -> None:
    setup(tmp_path)  # type: ignore[operator]
    (tmp_path / "b.md").write_text("# Policy\n\nText.\n")
    result = CliRunner().invoke(cli, ["diff", str(tmp_path / "a.md"), str(tmp_path / "b.md")])
    assert result.exit_code == 2
    assert needle in result.output.lower()
    assert str(tmp_path / "a.md") in result.output


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    with open(big, "wb") as f:
        f.truncate(50 * 1024 * 1024)
    (tmp_path / "b.md").write_text("# Policy\n")
    result = CliRunner().invoke(cli, ["diff", str(big), str(tmp_path / "b.md")])
    assert result.exit_code == 2
    assert "52,428,800" in result.output or "50" in result.output


def test_diff_between_archived_revisions_and_revision_names(site: Path) -> None:
    run("check")
    (site / "policies" / "privacy.md").write_text(REVISED.read_text())
    run("check")
    latest = json.loads(run("diff", "privacy", "--format", "json").output)
    explicit = json.loads(run("diff", "privacy", "latest~1", "latest", "--format", "json").output)
    assert latest == explicit and latest["material"] is True
    assert latest["old"]["revision"] and latest["new"]["date"]

    unknown = CliRunner().invoke(cli, ["diff", "privacy", "deadbeef"])
    assert unknown.exit_code == 2 and "deadbeef" in unknown.output
    too_far = CliRunner().invoke(cli, ["show", "privacy", "latest~5"])
    assert too_far.exit_code == 2
    no_policy = CliRunner().invoke(cli, ["log", "nosuch"])
    assert no_policy.exit_code == 2 and "nosuch" in no_policy.output


def test_show_prints_the_archived_text(site: Path) -> None:
    run("check")
    shown = run("show", "privacy").output
    assert shown.startswith("# Privacy policy")
    assert "title: Privacy policy" not in shown  # the front matter stays in the raw snapshot


def test_classify_text_json_and_jsonl(site: Path) -> None:
    text = run("classify", "policies/privacy.md").output
    assert "third-party-sharing" in text
    payload = json.loads(run("classify", "policies/privacy.md", "--format", "json").output)
    assert payload["schema"] == "policywatch.classify/1"
    assert all(set(c) >= {"index", "section", "text", "categories"} for c in payload["clauses"])
    lines = "\n".join(
        json.dumps({"id": i, "text": t})
        for i, t in [
            (7, "We share your e-mail address with advertising partners."),
            ("x", "Contact our data protection officer at dpo@example.com."),
        ]
    )
    out = [
        json.loads(line)
        for line in run("classify", "--format", "jsonl", input=lines).output.splitlines()
    ]
    assert [o["id"] for o in out] == [7, "x"]
    assert "third-party-sharing" in out[0]["categories"]
    assert "contact-information" in out[1]["categories"]
    bad = CliRunner().invoke(cli, ["classify", "--format", "jsonl"], input='{"id": 1}\n')
    assert bad.exit_code == 2 and "line 1" in bad.output and bad.stdout == ""


def git(repo: Path, *args: str, date: str | None = None) -> None:
    env = dict(os.environ)
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def test_import_keeps_the_original_dates(site: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    doc = other / "Example" / "Privacy Policy.md"
    doc.parent.mkdir()
    versions = [
        ("2023-03-01T10:00:00+00:00", "# Privacy\n\nWe collect your e-mail address.\n"),
        (
            "2023-09-15T08:30:00+00:00",
            "# Privacy\n\nWe collect your e-mail address and location.\n",
        ),
    ]
    for date, body in versions:
        doc.write_text(body)
        git(other, "add", "-A")
        git(other, "commit", "-q", "-m", "Record", date=date)
    result = run("import", str(other), "--path", "Example/Privacy Policy.md", "--policy", "example")
    assert "imported 2" in result.output
    revisions = json.loads(run("log", "example", "--format", "json").output)["revisions"]
    assert [r["date"][:10] for r in revisions] == ["2023-09-15", "2023-03-01"]
    assert revisions[0]["material"] is True
    in_force = run("show", "example", "2023-06-01").output
    assert "location" not in in_force and "e-mail" in in_force
    feed = (site / "feeds" / "example.atom").read_text()  # published after the import
    assert "2023-09-15" in feed and "location" in feed


def test_init_writes_a_site_that_checks_cleanly(tmp_path: Path) -> None:
    target = tmp_path / "newsite"
    assert run("init", str(target)).exit_code == 0
    assert (target / "config.toml").read_text() == (REPO_ROOT / "config.toml").read_text()
    assert (target / "policies" / "privacy.md").read_text() == (
        REPO_ROOT / "policies" / "privacy.md"
    ).read_text()
    again = CliRunner().invoke(cli, ["init", str(target)])
    assert again.exit_code == 2 and "--force" in again.output
    result = run("check", "--config", str(target / "config.toml"))
    assert result.exit_code == 0 and "first" in result.output


def test_a_bad_config_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    tmp_path = tmp_path / "site"
    tmp_path.mkdir()
    (tmp_path / "config.toml").write_text('[[policy]]\nid = "Bad Id"\nsource = "x.md"\n')
    result = CliRunner().invoke(cli, ["check", "--config", str(tmp_path / "config.toml")])
    assert result.exit_code == 2 and "policy[0].id" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_diff_of_files_does_not_import_heavy_modules(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# P\n\nWe collect your name.\n")
    (tmp_path / "b.md").write_text("# P\n\nWe collect your name and address.\n")
    a, b = str(tmp_path / "a.md"), str(tmp_path / "b.md")
    probe = (
        "import sys\n"
        "from policywatch.cli import main\n"
        f"sys.argv = ['policywatch', 'diff', {a!r}, {b!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'sqlalchemy', 'git',"
        " 'feedgen', 'apscheduler', 'alembic', 'jinja2', 'aiosmtplib'})\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout
