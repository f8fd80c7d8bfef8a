"""Change emails end to end: check queues, notify sends to a real SMTP server, nothing repeats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import smtpfixture as _smtpfixture
from policywatch.cli import cli
from policywatch.config import load_config
from policywatch.tracker import Tracker
from smtpfixture import SmtpServer

smtp_server = _smtpfixture.smtp_server

REPO_ROOT = Path(__file__).resolve().parent.parent
REVISED = REPO_ROOT / "docs" / "examples" / "privacy-2026-07.md"


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


@pytest.fixture
def mailsite(site: Path, smtp_server: SmtpServer) -> Path:
    config = site / "config.toml"
    text = config.read_text().replace("port = 25", f"port = {smtp_server.port}")
    text = text.replace('host = "localhost"', 'host = "127.0.0.1"')
    config.write_text(text)
    return site


def edit(site: Path, old: str, new: str) -> None:
    policy = site / "policies" / "privacy.md"
    text = policy.read_text()
    assert old in text
    policy.write_text(text.replace(old, new))


def test_a_material_change_reaches_each_subscriber_once(
    mailsite: Path, smtp_server: SmtpServer
) -> None:
    assert run("subscribers", "add", "ann@example.org", "bob@example.org").exit_code == 0
    assert run("subscribers", "add", "cat@example.org", "--scope", "material").exit_code == 0
    run("check")
    assert "sent 0" in run("notify").output  # a first record is news to nobody
    (mailsite / "policies" / "privacy.md").write_text(REVISED.read_text())
    assert json.loads(run("check", "--format", "json").output)["results"][0]["material"]
    out = run("notify").output
    assert "sent 3" in out, out
    assert sorted(smtp_server.recipients()) == [
        "ann@example.org",
        "bob@example.org",
        "cat@example.org",
    ]
    message = smtp_server.arrived[0].message()
    assert message.get_content_type() == "multipart/alternative"
    assert "Example Co." in message["Subject"] and "Privacy policy" in message["Subject"]
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://localhost:8080/unsubscribe/") and "," not in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "/opt-out/" in text and "advertising partners" in text
    ids = {a.message()["Message-ID"] for a in smtp_server.arrived}
    assert len(ids) == 3
    assert "sent 0" in run("notify").output  # nothing twice
    assert len(smtp_server.arrived) == 3


def test_editorial_changes_are_not_emailed(mailsite: Path, smtp_server: SmtpServer) -> None:
    run("subscribers", "add", "ann@example.org")
    run("check")
    edit(mailsite, "We only collect", "We  only\u00a0collect")
    assert json.loads(run("check", "--format", "json").output)["results"][0]["status"] == (
        "editorial"
    )
    run("notify")
    assert smtp_server.arrived == []


def test_a_non_material_change_skips_material_only_subscribers(
    mailsite: Path, smtp_server: SmtpServer
) -> None:
    run("subscribers", "add", "ann@example.org")
    run("subscribers", "add", "cat@example.org", "--scope", "material")
    run("check")
    edit(mailsite, "Our shop is not meant for children under 16", "Our shop is for adults")
    result = json.loads(run("check", "--format", "json").output)["results"][0]
    assert result["status"] == "changed" and result["material"] is False
    run("notify")
    assert smtp_server.recipients() == ["ann@example.org"]
    message = smtp_server.arrived[0].message()
    assert "/opt-out/" not in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_unsubscribed_before_sending_gets_nothing(mailsite: Path, smtp_server: SmtpServer) -> None:
    run("subscribers", "add", "ann@example.org", "bob@example.org")
    run("check")
    (mailsite / "policies" / "privacy.md").write_text(REVISED.read_text())
    run("check")  # queued for both
    assert run("subscribers", "remove", "bob@example.org").exit_code == 0
    run("notify")
    assert smtp_server.recipients() == ["ann@example.org"]


def test_a_crash_between_archive_and_database_is_repaired(
    mailsite: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("subscribers", "add", "ann@example.org")
    run("check")
    (mailsite / "policies" / "privacy.md").write_text(REVISED.read_text())
    tracker = Tracker(load_config(mailsite / "config.toml"))

    def crash(*args: object) -> int:
        raise KeyboardInterrupt  # the process dies right after the git commit

    monkeypatch.setattr(type(tracker.notifier), "enqueue_all", crash)
    with pytest.raises(KeyboardInterrupt):
        tracker.check()
    monkeypatch.undo()
    assert len(Tracker(load_config(mailsite / "config.toml")).log("privacy")) == 2
    out = run("notify").output
    assert "queued 1" in out and "sent 1" in out
    assert smtp_server.recipients() == ["ann@example.org"]


def test_an_import_mails_nobody(mailsite: Path, smtp_server: SmtpServer, tmp_path: Path) -> None:
    import subprocess

    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(other)], check=True)
    doc = other / "terms.md"
    for i, text in enumerate(["We collect your name.", "We collect your name and location."]):
        doc.write_text(f"# Terms\n\n{text}\n")
        subprocess.run(["git", "-C", str(other), "add", "-A"], check=True)
        subprocess.run(
            ["git", "-C", str(other), "commit", "-qm", f"v{i}"],
            check=True,
        )
    run("subscribers", "add", "ann@example.org")
    assert (
        "imported 2" in run("import", str(other), "--path", "terms.md", "--policy", "terms").output
    )
    run("check")
    run("notify")
    assert smtp_server.arrived == []


def test_the_mail_server_refusing_everything_stops_and_suppresses_nobody(
    mailsite: Path, smtp_server: SmtpServer
) -> None:
    run("subscribers", "add", "ann@example.org")
    run("check")
    (mailsite / "policies" / "privacy.md").write_text(REVISED.read_text())
    run("check")
    smtp_server.mail_reply = "554 5.7.1 Relay access denied"
    failed = CliRunner().invoke(cli, ["notify"])
    assert failed.exit_code == 1 and "mail server failed" in failed.output
    smtp_server.mail_reply = None
    assert "sent 1" in run("notify").output


def test_subscribers_admin_commands(mailsite: Path, tmp_path: Path) -> None:
    bad = CliRunner().invoke(cli, ["subscribers", "add", "not-an-address"])
    assert bad.exit_code == 2 and "not a valid email" in bad.output
    csv = tmp_path / "list.csv"
    csv.write_text("email,policy,scope\nann@example.org,privacy,all\nbob@example.org,,material\n")
    assert "imported 2" in run("subscribers", "import", str(csv)).output
    broken = tmp_path / "broken.csv"
    broken.write_text("email\ncat@example.org\nnope\n")
    result = CliRunner().invoke(cli, ["subscribers", "import", str(broken)])
    assert result.exit_code == 2 and "line 3" in result.output
    listed = json.loads(run("subscribers", "list", "--format", "json").output)["subscribers"]
    assert sorted(s["email"] for s in listed) == ["ann@example.org", "bob@example.org"]
    assert "forgotten" in run("subscribers", "forget", "bob@example.org").output
    listed = json.loads(run("subscribers", "list", "--format", "json").output)["subscribers"]
    assert [s["email"] for s in listed if s["email"]] == ["ann@example.org"]
    assert "database at" in run("db", "upgrade").output
    header = run("optouts").output.splitlines()[0]
    assert header.startswith("id,created_at,policy,revision")
