"""A real site for the web tests: config.toml, Markdown policies, a git archive built by
``Tracker.check()`` between edits, and the real app driven by ``aiohttp_client``.

The archive is built once per test module (checks diff and classify for real, which is the slow
part) and the app is created fresh for each test, so every test starts with cold caches.
"""

from __future__ import annotations

import importlib.util
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from policywatch.config import Config, load_config

PIPELINE = (
    "policywatch.archive",
    "policywatch.extract",
    "policywatch.clauses",
    "policywatch.diff",
    "policywatch.classify",
    "policywatch.render",
)
MISSING = [m for m in PIPELINE if importlib.util.find_spec(m) is None]
requires_pipeline = pytest.mark.skipif(
    bool(MISSING),
    reason=f"needs the recording pipeline ({', '.join(MISSING)}), not merged into main yet",
)

PRIVACY_V1 = """\
# Privacy policy

Example Co. runs a small online shop. This page explains what happens to your information.

## Information we collect

- Your email address, when you open an account.
- Your delivery address, when you place an order.

We use your email address to send you receipts.

## Sharing

We do not sell your information.
Our courier receives your delivery address so that it can bring you your parcel.

## Keeping your information

We delete your order history after two years.

## Contact

Write to privacy@example.com -- our "privacy desk" -- with any question about this page.
"""

# material: a new kind of data, new recipients, longer retention; a clause moves section
PRIVACY_V2 = """\
# Privacy policy

Example Co. runs a small online shop. This page explains what happens to your information.

## Information we collect

- Your email address, when you open an account.
- Your delivery address, when you place an order.
- Your precise location, taken from your device.

## Sharing

We do not sell your information.
We share your browsing history with advertising partners.
Our courier receives your delivery address so that it can bring you your parcel.
We use your email address to send you receipts.

## Keeping your information

We delete your order history after five years.

## Contact

Write to privacy@example.com -- our "privacy desk" -- with any question about this page.
"""

# editorial only: typographic quotes and dashes
PRIVACY_V3 = PRIVACY_V2.replace('-- our "privacy desk" --', "— our “privacy desk” —")

TERMS_V1 = """\
# Terms of service

These terms govern your use of the shop.

## Orders

An order is binding once we confirm it by email.
"""

HOSTILE_V1 = """\
# Hostile <script>document.title = "pwned-h1"</script> policy

We collect <img src=x onerror="document.title='pwned-img'"> your name.

[Read more](javascript:document.title='pwned-link') about us.

<iframe src="https://evil.invalid/"></iframe>

<a href="#" onclick="document.title='pwned-onclick'">Click here</a> to learn more.

## Sharing <script>window.pwned = 1</script>

We share nothing.

<script>pwnedHook("script")</script> <img src=x onerror="pwnedHook('img')">
<details open ontoggle="pwnedHook('toggle')">
"""

HOSTILE_V2 = (
    HOSTILE_V1.replace(
        "We share nothing.",
        "We share <script>document.title='pwned-diff'</script> everything"
        " with <b onmouseover=\"document.title='pwned-b'\">advertisers</b>.",
    )
    + "\n![tracker](https://evil.invalid/pixel.gif) <svg onload=\"document.title='pwned-svg'\">\n"
)


@dataclass
class Site:
    """A temp site on disk; :meth:`record` writes a policy and runs ``Tracker.check()``."""

    root: Path
    revisions: dict[str, list[str]] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    def config(self) -> Config:
        return load_config(self.config_path)

    def write(self, policy: str, text: str) -> None:
        (self.root / "policies" / f"{policy}.md").write_text(text, encoding="utf-8")

    def record(self, policy: str, text: str) -> str:
        """Write ``text`` as ``policy``'s source, check it, and return the new revision id."""
        from policywatch.tracker import Tracker

        self.write(policy, text)
        tracker = Tracker(self.config())
        try:
            report = tracker.check([policy])
        finally:
            tracker.archive.close()
        (result,) = report.results
        assert result.status != "error", result.error
        assert result.revision is not None
        self.revisions.setdefault(policy, []).append(result.revision.id)
        return result.revision.id


def write_config(root: Path, policies: list[tuple[str, str]]) -> None:
    """config.toml naming ``policies``; each source file exists (the config requires it) with a
    placeholder until a test writes the policy."""
    (root / "policies").mkdir(parents=True, exist_ok=True)
    for pid, title in policies:
        source = root / "policies" / f"{pid}.md"
        if not source.exists():
            source.write_text(f"# {title}\n\nNot published yet.\n", encoding="utf-8")
    blocks = "\n".join(
        textwrap.dedent(
            f"""\
            [[policy]]
            id = "{pid}"
            title = "{title}"
            source = "policies/{pid}.md"
            """
        )
        for pid, title in policies
    )
    (root / "config.toml").write_text(
        '[site]\nname = "Example Co."\nbase_url = "https://policies.example.com"\n\n' + blocks,
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """privacy: first, material change, editorial change, restore; terms: one version;
    hostile: two versions of a page full of markup that must stay inert."""
    if MISSING:
        pytest.skip(f"needs {', '.join(MISSING)} (not merged into main yet)")
    root = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:
        home = root / "_home"
        home.mkdir()
        mp.setenv("HOME", str(home))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        write_config(
            root,
            [
                ("privacy", "Privacy policy"),
                ("terms", "Terms of service"),
                ("hostile", "Hostile policy"),
                ("cookies", "Cookie policy"),  # configured, never recorded
            ],
        )
        site = Site(root)
        for text in (PRIVACY_V1, PRIVACY_V2, PRIVACY_V3, PRIVACY_V2):
            site.record("privacy", text)
        site.record("terms", TERMS_V1)
        site.record("hostile", HOSTILE_V1)
        site.record("hostile", HOSTILE_V2)
        yield site


ClientMaker = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def client(recorded: Site, aiohttp_client: ClientMaker) -> TestClient:
    from policywatch.web import create_app

    return await aiohttp_client(create_app(recorded.config()))


class Elements(HTMLParser):
    """Every start tag of an HTML document with its attributes, as a browser would see them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]


def active_content(html: str) -> list[str]:
    """What in ``html`` could run or load anything: script-capable elements, event handler
    attributes, script URLs, inline styles. Our own pages have none of these."""
    found = []
    for tag, attrs in Elements(html).tags:
        if tag in ("script", "iframe", "object", "embed", "svg", "math", "frame", "base", "img"):
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                found.append(f"<{tag} {name}>")
            url = (value or "").strip().lower() if name in ("href", "src", "action") else ""
            if url.startswith(("javascript:", "data:", "vbscript:")):
                found.append(f"<{tag} {name}={value}>")
    return found
