"""Change emails: what subscribers receive, parsed back with the email package, and how a real
SMTP server's answers become decisions for the outbox."""

from __future__ import annotations

import email
import email.policy
import importlib.util
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

import smtpfixture
from policywatch.config import MailConfig, SiteConfig
from policywatch.errors import ConfigError, DeliveryError, InputError
from policywatch.mail import (
    MAX_LISTED,
    ChangeNotice,
    DkimSigner,
    NoticeClause,
    OutgoingMessage,
    RateLimiter,
    Recipient,
    RenderedChange,
    SmtpMailer,
    build_confirmation,
    build_message,
    message_id,
    notifiable,
    plain_reason,
    render_change,
    sender_domain,
)
from policywatch.models import Change, Clause, Diff, DiffStats, Revision, Side
from smtpfixture import SmtpServer

smtp_server = smtpfixture.smtp_server
smtp_auth_server = smtpfixture.smtp_auth_server

SITE = SiteConfig(name="Example Co.", base_url="https://example.com/")
SENDER = "Example Co. <privacy@example.com>"
PREV = "a1" * 20
REV = "b2" * 20
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
HOSTILE = (
    'We share <script>alert("x")</script> data with <img src=x onerror="alert(1)"> partners, '
    '<a href="javascript:alert(2)">see here</a> & "more"\x00\x1b\u2028 end.'
)


def clause(index: int, text: str, section: tuple[str, ...] = ("Sharing",)) -> Clause:
    return Clause(index, "sentence", text, section, text.lower())


ADDED = Change(
    "added",
    None,
    clause(3, "We share your email address with advertising partners."),
    categories=("third-party-sharing",),
    material=True,
    reasons=("adds recipient: advertising partners",),
)
LONGER = Change(
    "modified",
    clause(4, "We keep logs for 30 days.", ("Retention",)),
    clause(5, "We keep logs for 2 years.", ("Retention",)),
    words=(("=", "We keep logs for "), ("-", "30 days"), ("+", "2 years"), ("=", ".")),
    categories=("data-retention",),
    material=True,
    reasons=("longer retention: 30 days -> 2 years",),
)
REMOVED = Change("removed", clause(6, "Contact us by post.", ("Contact",)), None, categories=())
REWORDED = Change("editorial", clause(7, "Hello there"), clause(7, "hello there"))


def make_diff(changes: tuple[Change, ...], *, material: bool) -> Diff:
    stats = DiffStats(
        added=sum(c.kind == "added" for c in changes),
        removed=sum(c.kind == "removed" for c in changes),
        modified=sum(c.kind == "modified" for c in changes),
        moved=sum(c.kind == "moved" for c in changes),
        editorial=sum(c.kind == "editorial" for c in changes),
    )
    return Diff(Side("old", PREV, T0), Side("new", REV, T0), changes, stats, material=material)


def make_notice(
    changes: tuple[Change, ...] = (ADDED, LONGER, REMOVED, REWORDED),
    *,
    material: bool = True,
    site: SiteConfig = SITE,
    title: str = "Privacy policy",
    rev: str = REV,
    effective: str | None = None,
) -> ChangeNotice:
    diff = make_diff(changes, material=material)
    diff = Diff(diff.old, Side("new", rev, T0), diff.changes, diff.stats, material)
    revision = Revision(
        "privacy", rev, T0, "change", material=material, summary="Shares email with advertisers"
    )
    return ChangeNotice.from_diff(
        diff, revision, site=site, title=title, domain="example.com", effective=effective
    )


def recipient(n: int = 1, *, opt_out: bool = True, email_: str | None = None) -> Recipient:
    return Recipient(
        email=email_ or f"reader{n}@example.org",
        unsubscribe_url=f"https://example.com/unsubscribe/u-{n}",
        subscriber=n,
        opt_out_url=f"https://example.com/opt-out/o-{n}" if opt_out else None,
    )


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def bodies(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


@pytest.fixture
def rendered() -> RenderedChange:
    return render_change(make_notice())


# -- building ---------------------------------------------------------------------------------


def test_message_is_multipart_alternative_text_then_html(rendered: RenderedChange) -> None:
    data = build_message(rendered, recipient(), sender=SENDER)
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only: no bare LF or CR
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert data.isascii()
    msg = parse(data)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
    assert not msg.defects and not any(p.defects for p in parts)


def test_list_and_identity_headers_are_exact(rendered: RenderedChange) -> None:
    msg = parse(build_message(rendered, recipient(7), sender=SENDER))
    assert msg["List-Unsubscribe"] == "<https://example.com/unsubscribe/u-7>"
    assert len(re.findall(r"https://", msg["List-Unsubscribe"])) == 1
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Id"] == '"Example Co.: Privacy policy" <privacy.example.com>'
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Precedence"] == "bulk"
    assert msg["X-Policywatch-Change"] == f"privacy/{REV}"
    assert msg["From"].addresses[0].display_name == "Example Co."
    assert msg["From"].addresses[0].addr_spec == "privacy@example.com"
    assert msg["To"] == "reader7@example.org"
    assert msg["Date"].datetime == T0  # the change's date, not the clock
    assert msg["Subject"] == "Example Co.: changes to Privacy policy (material)"
    for name in ("List-Unsubscribe", "Message-ID", "Date", "From", "To", "Subject"):
        assert len(msg.get_all(name) or []) == 1, name


def test_message_id_is_deterministic_per_change_and_recipient() -> None:
    one = build_message(render_change(make_notice()), recipient(3), sender=SENDER)
    two = build_message(render_change(make_notice()), recipient(3), sender=SENDER)
    assert one == two  # a rebuild after a crash is byte-identical
    mid = parse(one)["Message-ID"]
    assert mid == parse(two)["Message-ID"]
    assert re.fullmatch(rf"<pw\.{REV[:12]}\.[0-9a-f]{{16}}@example\.com>", mid)
    other_reader = parse(build_message(render_change(make_notice()), recipient(4), sender=SENDER))
    other_change = parse(
        build_message(render_change(make_notice(rev="c3" * 20)), recipient(3), sender=SENDER)
    )
    assert len({mid, other_reader["Message-ID"], other_change["Message-ID"]}) == 3
    assert message_id(make_notice(), 3) == mid


def test_subject_names_site_and_policy_and_says_material_only_when_it_is() -> None:
    plain_change = (
        Change("added", None, clause(3, "You can now download your data."), categories=()),
    )
    notice = make_notice(plain_change, material=False)
    msg = parse(build_message(render_change(notice), recipient(opt_out=False), sender=SENDER))
    assert msg["Subject"] == "Example Co.: changes to Privacy policy"


def test_opt_out_link_only_for_material_changes() -> None:
    reader = recipient(5)
    material = parse(build_message(render_change(make_notice()), reader, sender=SENDER))
    for body in bodies(material):
        assert "https://example.com/opt-out/o-5" in body
        assert "https://example.com/unsubscribe/u-5" in body
    minor = (Change("added", None, clause(3, "You can now download your data.")),)
    notice = make_notice(minor, material=False)
    not_material = parse(build_message(render_change(notice), reader, sender=SENDER))
    for body in bodies(not_material):
        assert "opt-out" not in body
        assert "https://example.com/unsubscribe/u-5" in body
    with pytest.raises(InputError, match="opt-out"):
        build_message(render_change(make_notice()), recipient(opt_out=False), sender=SENDER)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_clause_text_is_inert_in_html_and_cannot_forge_links() -> None:
    forged = "Click \x00pw-unsubscribe\x00 now."
    changes = (
        Change(
            "added",
            None,
            clause(3, HOSTILE, ("<b>Section</b>",)),
            material=True,
            reasons=("adds recipient: <i>partners</i>",),
        ),
        Change("added", None, clause(4, forged)),
    )
    msg = parse(build_message(render_change(make_notice(changes)), recipient(), sender=SENDER))
    text, html = bodies(msg)
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags and "img" not in parser.tags and "i" not in parser.tags
    assert not any(name.startswith("on") for name, _ in parser.attrs)
    hrefs = [v or "" for name, v in parser.attrs if name == "href"]
    assert hrefs and all(h.startswith("https://example.com/") for h in hrefs)
    shown = "".join(parser.text)
    assert '<script>alert("x")</script>' in shown  # shown as text, not run
    assert "<b>Section</b>" in shown
    assert "\x00" not in html and "\x1b" not in html and "\x00" not in text
    assert "Click pw-unsubscribe now." in shown  # a forged placeholder stays text
    assert text.count("https://example.com/unsubscribe/u-1") == 1
    assert html.count("https://example.com/unsubscribe/u-1") == 1
    assert '<script>alert("x")</script>' in text


def test_non_ascii_names_subjects_and_addresses_are_encoded() -> None:
    site = SiteConfig(name="Société Générale Ünïcode", base_url="https://example.com")
    changes = (
        Change(
            "added",
            None,
            clause(3, "Nous partageons vos données avec des partenaires publicitaires."),
            material=True,
        ),
    )
    notice = make_notice(changes, site=site, title="Politique de confidentialité")
    reader = recipient(2, email_="lecteur@exämple.fr")
    data = build_message(render_change(notice), reader, sender="Société Générale <dpo@example.com>")
    assert data.isascii()
    msg = parse(data)
    assert str(msg["Subject"]) == (
        "Société Générale Ünïcode: changes to Politique de confidentialité (material)"
    )
    assert msg["From"].addresses[0].display_name == "Société Générale"
    assert msg["To"] == "lecteur@xn--exmple-cua.fr"
    assert "Société Générale Ünïcode" in str(msg["List-Id"])
    assert str(msg["List-Id"]).endswith("<privacy.example.com>")
    text, html = bodies(msg)
    assert "Nous partageons vos données avec des partenaires publicitaires." in text
    assert "vos données" in html


def test_mostly_non_latin_part_is_base64_and_round_trips() -> None:
    sentence = "当社は、広告パートナーとお客様の電子メールアドレスを共有します。" * 4
    changes = (Change("added", None, clause(3, sentence), material=True),)
    notice = make_notice(changes, title="個人情報保護方針")
    msg = parse(build_message(render_change(notice), recipient(9), sender=SENDER))
    text_part = msg.get_body(("plain",))
    assert text_part is not None and text_part["Content-Transfer-Encoding"] == "base64"
    text, html = bodies(msg)
    assert sentence in text.replace("\n", "").replace(" ", "")
    assert sentence in html
    assert "https://example.com/unsubscribe/u-9" in text
    assert str(msg["Subject"]) == "Example Co.: changes to 個人情報保護方針 (material)"


def test_body_lists_clauses_with_categories_reasons_and_links(rendered: RenderedChange) -> None:
    reader = recipient(1)
    msg = parse(build_message(rendered, reader, sender=SENDER))
    text, html = bodies(msg)
    diff_url = f"https://example.com/policies/privacy/diff?from={PREV}&to={REV}"
    for body in (text, html):
        assert "We share your email address with advertising partners." in body
        assert "sharing with third parties" in body  # category in words, not an id
        assert "shares data with someone new: advertising partners" in body
        assert "keeps data longer: 30 days → 2 years" in body
        assert "Contact us by post." in body
        assert "Hello there" not in body  # editorial changes are not listed
        assert "https://example.com/feeds/privacy.atom" in body
    assert diff_url in text
    assert f'href="{diff_url.replace("&", "&amp;")}"' in html
    # material clauses come first and are marked
    assert text.index("advertising partners.") < text.index("Contact us by post.")
    assert "1. Added in Sharing (material)" in text
    assert "<del" in html and "<ins" in html  # the word diff of the modified clause


def test_effective_date_and_long_lists_are_cut_with_a_count() -> None:
    many = tuple(
        Change("added", None, clause(i, f"Clause number {i} about sharing.")) for i in range(40)
    )
    notice = make_notice(many, material=False, effective="1 February 2026")
    text, html = bodies(
        parse(build_message(render_change(notice), recipient(opt_out=False), sender=SENDER))
    )
    assert "Takes effect: 1 February 2026" in text and "1 February 2026" in html
    assert f"Clause number {MAX_LISTED - 1} about" in text
    assert f"Clause number {MAX_LISTED} about" not in text
    assert f"and {40 - MAX_LISTED} more changed clauses" in text
    assert "What changed (40 clauses)" in text


def test_editorial_first_and_technical_revisions_are_never_emailed() -> None:
    editorial_diff = make_diff((REWORDED,), material=False)
    for kind in ("editorial", "first", "technical"):
        revision = Revision("privacy", REV, T0, kind)
        assert not notifiable(revision, make_diff((ADDED,), material=True))
        with pytest.raises(InputError, match="never emailed"):
            ChangeNotice.from_diff(
                make_diff((ADDED,), material=True),
                revision,
                site=SITE,
                title="P",
                domain="example.com",
            )
    change = Revision("privacy", REV, T0, "change")
    assert not notifiable(change, editorial_diff)
    with pytest.raises(InputError, match="editorial changes only"):
        ChangeNotice.from_diff(editorial_diff, change, site=SITE, title="P", domain="example.com")
    with pytest.raises(InputError, match="no change of substance"):
        ChangeNotice(
            "Example Co.",
            "https://example.com",
            "example.com",
            "privacy",
            "P",
            REV,
            PREV,
            T0,
            False,
            "",
            (NoticeClause("editorial", "a", "A"),),
        )


def test_notice_refuses_bad_values() -> None:
    good = make_notice()
    with pytest.raises(InputError, match="time zone"):
        ChangeNotice.from_diff(
            make_diff((ADDED,), material=True),
            Revision("privacy", REV, datetime(2026, 1, 1), "change"),
            site=SITE,
            title="P",
            domain="example.com",
        )
    with pytest.raises(InputError, match="domain"):
        make_notice_with(good, domain="exa mple.com")
    with pytest.raises(InputError, match="categories"):
        NoticeClause("added", None, "x", categories=("made-up",))


def make_notice_with(notice: ChangeNotice, **changes: object) -> ChangeNotice:
    import dataclasses

    return dataclasses.replace(notice, **changes)  # type: ignore[arg-type]


def test_recipient_links_must_be_https_except_on_loopback() -> None:
    for bad in (
        "http://example.com/unsubscribe/x",
        "https://example.com/unsubscribe/a,b",
        "https://example.com/unsubscribe/a b",
        "https://example.com/u/<x>",
        "mailto:unsubscribe@example.com",
    ):
        with pytest.raises(InputError, match="unsubscribe_url"):
            Recipient("a@example.org", bad, 1)
    Recipient("a@example.org", "http://localhost:8080/unsubscribe/x", 1)
    Recipient("a@example.org", "http://127.0.0.1:8080/unsubscribe/x", 1)
    with pytest.raises(InputError, match="opt_out_url"):
        Recipient("a@example.org", "https://example.com/u/x", 1, opt_out_url="http://evil.test/")


def test_unusable_addresses_are_refused_by_name(rendered: RenderedChange) -> None:
    for bad in ("no-at-sign", "josé@example.org", "a@b@c", "a@-bad-.org"):
        with pytest.raises(InputError, match="address"):
            build_message(rendered, recipient(email_=bad), sender=SENDER)
    with pytest.raises(InputError, match="sender"):
        build_message(rendered, recipient(), sender="Example Co.")
    assert sender_domain("Example Co. <privacy@Example.COM>") == "example.com"


def test_reasons_read_in_plain_words() -> None:
    assert plain_reason("adds data: precise location") == "collects new data: precise location"
    assert plain_reason("removes choice: opt out") == "takes away a choice you had: opt out"
    assert plain_reason("something new: x") == "something new: x"  # unknown: shown as given


def test_confirmation_email() -> None:
    url = "https://example.com/confirm/tok-123"
    data = build_confirmation(
        SITE,
        "new@example.org",
        url,
        ["Privacy policy", "Terms <of> use"],
        sender=SENDER,
        scope="material",
        date=T0,
    )
    again = build_confirmation(
        SITE,
        "new@example.org",
        url,
        ["Privacy policy", "Terms <of> use"],
        sender=SENDER,
        scope="material",
        date=T0,
    )
    assert data == again
    msg = parse(data)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Subject"] == "Example Co.: confirm your subscription to policy changes"
    assert msg["To"] == "new@example.org"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Unsubscribe"] is None
    assert re.fullmatch(r"<pw\.confirm\.[0-9a-f]{16}@example\.com>", msg["Message-ID"])
    text, html = bodies(msg)
    assert url in text and f'href="{url}"' in html
    assert "Terms <of> use" in text and "Terms &lt;of&gt; use" in html
    assert "only for material changes" in text
    assert "press" in text  # the link opens a page; only its button confirms
    with pytest.raises(InputError, match="scope"):
        build_confirmation(SITE, "a@example.org", url, ["P"], sender=SENDER, scope="weekly")


def test_dates_keep_their_instant_in_any_zone() -> None:
    paris = timezone(timedelta(hours=1))
    notice = make_notice_with(make_notice(), date=T0.astimezone(paris))
    msg = parse(build_message(render_change(notice), recipient(), sender=SENDER))
    assert msg["Date"].datetime == T0


# -- DKIM -------------------------------------------------------------------------------------


def _rsa_key(tmp_path: Path) -> tuple[bytes, bytes]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test key")
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    pub = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key.read_bytes(), pub


def test_dkim_signature_covers_the_list_headers_and_verifies(
    tmp_path: Path, rendered: RenderedChange
) -> None:
    dkim = pytest.importorskip("dkim")
    import base64

    private, public = _rsa_key(tmp_path)
    (tmp_path / "k.pem").write_bytes(private)
    signer = DkimSigner.from_file(tmp_path / "k.pem", domain="example.com", selector="pw")
    data = build_message(rendered, recipient(), sender=SENDER, dkim=signer)
    msg = parse(data)
    tags = re.search(r"\bh=([^;]+)", "".join(msg["DKIM-Signature"].split()))
    assert tags is not None
    signed = {h.lower() for h in tags[1].split(":")}
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    } <= signed
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"pw._domainkey.example.com."
        return record

    assert dkim.verify(data, dnsfunc=dns)
    tampered = data.replace(b"unsubscribe/u-1>", b"unsubscribe/u-2>", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_dkim_without_dkimpy_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dkim", None)  # makes `import dkim` fail
    with pytest.raises(ConfigError, match="dkimpy"):
        DkimSigner(domain="example.com", selector="pw", private_key=b"x")


def test_dkim_bad_key_is_a_config_error() -> None:
    if importlib.util.find_spec("dkim") is None:
        pytest.skip("dkimpy not installed")
    with pytest.raises(ConfigError, match="DKIM key"):
        DkimSigner(domain="example.com", selector="pw", private_key=b"not a key")


# -- sending ----------------------------------------------------------------------------------


def mail_config(server: SmtpServer, **overrides: object) -> MailConfig:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "sender": SENDER,
        "rate": 10_000.0,
        "connections": 2,
    }
    values.update(overrides)
    return MailConfig(**values)  # type: ignore[arg-type]


def outgoing(rendered: RenderedChange, count: int, start: int = 1) -> list[OutgoingMessage]:
    out = []
    for n in range(start, start + count):
        reader = recipient(n)
        out.append(
            OutgoingMessage(
                key=n, recipient=reader.email, data=build_message(rendered, reader, sender=SENDER)
            )
        )
    return out


async def test_messages_arrive_as_built(smtp_server: SmtpServer, rendered: RenderedChange) -> None:
    messages = outgoing(rendered, 3)
    async with SmtpMailer(mail_config(smtp_server), local_hostname="pw.test") as mailer:
        results = await mailer.send(messages)
    assert [r.status for r in results] == ["ok"] * 3
    assert [r.key for r in results] == [1, 2, 3]
    assert all("queued as" in r.reply and r.error is None for r in results)
    assert sorted(smtp_server.recipients()) == [m.recipient for m in messages]
    for arrived in smtp_server.arrived:
        assert arrived.mail_from == "privacy@example.com"  # the bare address, no display name
        msg = arrived.message()
        assert msg["To"] == arrived.rcpt_tos[0]
        assert msg.get_content_type() == "multipart/alternative"
        n = arrived.rcpt_tos[0].removeprefix("reader").split("@")[0]
        assert msg["List-Unsubscribe"] == f"<https://example.com/unsubscribe/u-{n}>"
        text, _ = bodies(msg)
        assert "We share your email address with advertising partners." in text


async def test_pool_reuses_connections_across_messages_and_calls(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    mailer = SmtpMailer(mail_config(smtp_server, connections=2), local_hostname="pw.test")
    try:
        first = await mailer.send(outgoing(rendered, 20))
        second = await mailer.send(outgoing(rendered, 10, start=21))
    finally:
        await mailer.close()
    assert all(r.ok for r in first + second)
    assert len(smtp_server.arrived) == 30
    assert 1 <= smtp_server.connections <= 2  # open once, send many
    assert mailer.connections_opened == smtp_server.connections
    assert mailer.live_connections() == 0  # closed


async def test_reconnects_when_the_server_drops_the_connection(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    smtp_server.drop_after = 3
    async with SmtpMailer(
        mail_config(smtp_server, connections=1), local_hostname="pw.test"
    ) as mailer:
        results = await mailer.send(outgoing(rendered, 10))
    assert [r.status for r in results] == ["ok"] * 10
    assert sorted(smtp_server.recipients()) == sorted(
        f"reader{n}@example.org" for n in range(1, 11)
    )
    assert smtp_server.connections == 4  # 3 + 3 + 3 + 1


async def test_a_421_goodbye_is_retried_on_a_fresh_connection(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    smtp_server.drop_after = 2
    smtp_server.drop_reply = "421 4.7.0 Too many messages on this connection"
    async with SmtpMailer(
        mail_config(smtp_server, connections=1), local_hostname="pw.test"
    ) as mailer:
        results = await mailer.send(outgoing(rendered, 5))
    assert [r.status for r in results] == ["ok"] * 5
    assert len(smtp_server.arrived) == 5 and smtp_server.connections == 3


async def test_connections_beyond_the_relays_cap_give_way_to_the_others(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    smtp_server.max_connections = 2
    async with SmtpMailer(
        mail_config(smtp_server, connections=4), local_hostname="pw.test"
    ) as mailer:
        results = await mailer.send(outgoing(rendered, 12))
    assert [r.status for r in results] == ["ok"] * 12  # a busy relay is not a broken sender
    assert len(smtp_server.arrived) == 12
    assert smtp_server.peak <= 2


async def test_451_is_temporary_and_550_permanent_for_that_address_only(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    smtp_server.rcpt_replies["reader2@example.org"] = "451 4.3.0 Mailbox busy, try later"
    smtp_server.rcpt_replies["reader4@example.org"] = "550 5.1.1 User unknown"
    async with SmtpMailer(mail_config(smtp_server), local_hostname="pw.test") as mailer:
        results = await mailer.send(outgoing(rendered, 5))
    by_key = {r.key: r for r in results}
    assert [by_key[n].status for n in range(1, 6)] == [
        "ok",
        "temporary",
        "ok",
        "permanent",
        "ok",
    ]
    temporary, permanent = by_key[2], by_key[4]
    assert temporary.code == 451 and "try later" in temporary.reply and not temporary.suppress
    assert permanent.code == 550 and "User unknown" in permanent.reply and permanent.suppress
    assert permanent.stage == "rcpt"
    err = permanent.error
    assert isinstance(err, DeliveryError) and err.permanent and not err.fatal
    assert "reader4@example.org" in str(err) and "550" in str(err)
    temp_err = temporary.error
    assert temp_err is not None and not temp_err.permanent and not temp_err.fatal
    assert sorted(smtp_server.recipients()) == [
        "reader1@example.org",
        "reader3@example.org",
        "reader5@example.org",
    ]


async def test_content_refused_at_data_is_permanent_but_does_not_suppress(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    smtp_server.data_replies["reader1@example.org"] = "554 5.7.1 Message rejected as spam"
    async with SmtpMailer(mail_config(smtp_server), local_hostname="pw.test") as mailer:
        (result, other) = await mailer.send(outgoing(rendered, 2))
    assert result.status == "permanent" and result.stage == "data" and not result.suppress
    assert other.ok


async def test_failed_login_is_fatal_and_suppresses_nobody(
    smtp_auth_server: SmtpServer, rendered: RenderedChange
) -> None:
    config = mail_config(smtp_auth_server, username="sender", password="wrong")
    async with SmtpMailer(config, local_hostname="pw.test") as mailer:
        results = await mailer.send(outgoing(rendered, 6))
    assert [r.status for r in results] == ["fatal"] * 6
    assert results[0].code == 535 and results[0].stage == "connect"
    assert not any(r.suppress for r in results)
    assert all(r.error is not None and r.error.fatal for r in results)
    assert smtp_auth_server.arrived == []
    assert smtp_auth_server.connections == 1  # stopped at once, no hammering


async def test_login_with_the_right_password_sends(
    smtp_auth_server: SmtpServer, rendered: RenderedChange
) -> None:
    config = mail_config(
        smtp_auth_server, username=smtpfixture.USERNAME, password=smtpfixture.PASSWORD
    )
    async with SmtpMailer(config, local_hostname="pw.test") as mailer:
        results = await mailer.send(outgoing(rendered, 3))
    assert all(r.ok for r in results)
    assert len(smtp_auth_server.arrived) == 3


async def test_missing_login_is_fatal_not_a_bounce(
    smtp_auth_server: SmtpServer, rendered: RenderedChange
) -> None:
    async with SmtpMailer(mail_config(smtp_auth_server), local_hostname="pw.test") as mailer:
        results = await mailer.send(outgoing(rendered, 3))
    assert [r.status for r in results] == ["fatal"] * 3
    assert results[0].code == 530


async def test_a_relay_refusing_everything_stops_the_run(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    smtp_server.mail_reply = "554 5.7.1 Sender address rejected: not owned by user"
    async with SmtpMailer(
        mail_config(smtp_server, connections=1), local_hostname="pw.test"
    ) as mailer:
        results = await mailer.send(outgoing(rendered, 8))
    assert [r.status for r in results] == ["fatal"] * 8
    assert results[0].stage == "mail" and results[0].code == 554
    assert all("not attempted" in r.reply for r in results[1:])
    assert smtp_server.mail_commands == 1


async def test_relaying_denied_on_rcpt_is_fatal_not_permanent(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    smtp_server.rcpt_replies["reader1@example.org"] = "554 5.7.1 Relay access denied"
    async with SmtpMailer(
        mail_config(smtp_server, connections=1), local_hostname="pw.test"
    ) as mailer:
        results = await mailer.send(outgoing(rendered, 3))
    assert results[0].status == "fatal" and not results[0].suppress


async def test_connection_refused_is_fatal(rendered: RenderedChange) -> None:
    nobody = SmtpServer(port=smtpfixture._free_port())  # nothing listens there
    async with SmtpMailer(mail_config(nobody), local_hostname="pw.test", timeout=5) as mailer:
        results = await mailer.send(outgoing(rendered, 4))
    assert [r.status for r in results] == ["fatal"] * 4
    assert results[0].stage == "connect"


async def test_rate_limit_is_respected_across_connections(
    smtp_server: SmtpServer, rendered: RenderedChange
) -> None:
    config = mail_config(smtp_server, rate=100.0, connections=4)
    messages = outgoing(rendered, 20)
    async with SmtpMailer(config, local_hostname="pw.test") as mailer:
        started = time.perf_counter()
        results = await mailer.send(messages)
        elapsed = time.perf_counter() - started
    assert all(r.ok for r in results)
    assert elapsed >= 0.18  # 20 messages at 100/s: 19 gaps of 10 ms, however many connections


async def test_rate_limiter_spaces_slots() -> None:
    limiter = RateLimiter(200.0)
    started = time.perf_counter()
    for _ in range(11):
        await limiter.acquire()
    assert time.perf_counter() - started >= 0.045  # 10 gaps of 5 ms
    with pytest.raises(InputError):
        RateLimiter(0)


def test_mailer_refuses_an_unusable_sender() -> None:
    with pytest.raises(ConfigError, match=r"mail\.sender"):
        SmtpMailer(MailConfig(sender="not an address"))
