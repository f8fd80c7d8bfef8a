"""Benchmark ``policywatch check`` against urlwatch: 1,000 policy pages served by nginx.

    PYTHONPATH=src python bench/watch_bench.py [--pages 1000] [--repeats 3] [--hosts 1]
        [--urlwatch /tmp/uwenv/bin/urlwatch] [--keep DIR]

What runs, all in one go and on the same pages (see bench/watch.md for results):

1. 1,000 generated policy pages (20-60 KB each: a ``<main>`` with headings, paragraphs and lists,
   plus header, nav, cookie banner, scripts and footer noise) are written as static files and
   served by nginx on a loopback port (``etag on``, ``if_modified_since before`` so that urlwatch,
   which sends its own clock as If-Modified-Since, can get 304s at all; policywatch sends the
   server's own validators and gets 304s with either setting).
2. ``policywatch check --format json`` (the real command, a subprocess under ``/usr/bin/time -v``)
   with a config.toml of 1,000 ``[[policy]]`` http sources, ``select = ["main"]``, and a real git
   archive; urlwatch (its own venv, never the project's) with 1,000 jobs filtered by
   ``css: main`` + ``html2text``. Passes: **first** (all 200), **unchanged** (all 304; repeated,
   alternating the two tools, medians quoted), **10% changed** (100 pages gain a sharing clause
   and a longer retention period), and finally both tools' unchanged pass again with nginx's
   default ``if_modified_since exact`` (urlwatch's quirk).
3. For each run: wall time, sources/s, CPU seconds (the process and the children it waited for,
   e.g. git), peak RSS (largest process), nginx CPU seconds, and the 200/304 answers counted in
   nginx's access log. After the first pass: revisions in the archive and the share of the publish
   step (Atom feeds), timed by calling ``Tracker.publish()`` again on the same archive.

Skips (exit 0, with a message) when nginx is missing; runs policywatch alone, saying so, when
urlwatch is missing. Only 127.0.0.0/8 is contacted. The page text is generated here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
URLWATCH_CANDIDATES = ("/tmp/uwenv/bin/urlwatch",)

# -- pages (generated text; nothing copied from any corpus) -----------------------------------

COMPANIES = (
    "Brightloom", "Quillfern", "Tessaro", "Marrowgate", "Pinecask", "Oxbright", "Velmont",
    "Corvane", "Lumenfold", "Harrowby", "Saltmere", "Kestrelle", "Ambervale", "Driftwick",
)  # fmt: skip
SUFFIXES = ("Inc.", "Ltd", "GmbH", "Labs", "Group", "S.A.", "Technologies", "Media")
PRODUCTS = (
    "app", "website", "platform", "marketplace", "newsletter", "mobile applications",
    "streaming service", "online store", "booking service", "community forums",
)  # fmt: skip
DATA = (
    "your name", "your email address", "your postal address", "your phone number",
    "payment card details", "your date of birth", "your account password", "your IP address",
    "device identifiers", "browser type and settings", "approximate location",
    "precise location", "purchase history", "pages you view", "search queries",
    "contacts you choose to upload", "photos and videos you post", "messages you send us",
    "crash reports", "advertising identifiers", "the referring web page",
)  # fmt: skip
PURPOSES = (
    "provide and maintain the service", "process your orders and payments",
    "respond to your requests", "personalise the content we show you",
    "measure how our features are used", "detect and prevent fraud",
    "send you service announcements", "send you marketing messages where you agreed",
    "comply with our legal obligations", "improve our products", "secure your account",
    "show you advertising that may interest you", "carry out research and analytics",
)  # fmt: skip
RECIPIENTS = (
    "payment processors", "cloud hosting providers", "customer support vendors",
    "analytics providers", "advertising partners", "our affiliates", "delivery companies",
    "professional advisers", "law enforcement when required by law", "a buyer of our business",
    "email delivery services", "fraud prevention agencies",
)  # fmt: skip
PERIODS = ("30 days", "90 days", "6 months", "12 months", "two years", "five years")
COUNTRIES = ("the United States", "Canada", "Ireland", "India", "Singapore", "Brazil", "Japan")
RIGHTS = (
    "access the personal information we hold about you", "correct inaccurate information",
    "delete your information", "object to processing based on our legitimate interests",
    "restrict processing while a complaint is examined", "receive a portable copy of your data",
    "withdraw consent at any time", "opt out of the sale or sharing of your information",
    "lodge a complaint with a supervisory authority",
)  # fmt: skip
REGIONS = (
    "California", "Virginia", "Colorado", "Connecticut", "Utah", "Texas", "Oregon", "Montana",
    "the European Economic Area", "the United Kingdom", "Switzerland", "Brazil", "Quebec",
    "Australia", "New Zealand", "South Korea", "South Africa", "Turkey", "Japan", "Singapore",
)  # fmt: skip

SENTENCES: dict[str, tuple[str, ...]] = {
    "intro": (
        "This policy explains how {co} collects, uses and shares information about you when you "
        "use our {product}.",
        "It applies to everyone who visits our {product}, whether or not you have an account.",
        "Please read it together with our terms of service, which govern your use of the "
        "{product}.",
        "Where this policy says {short}, we, us or our, it means {co} and the companies it "
        "controls.",
        "If you do not agree with this policy, please do not use the {product}.",
    ),
    "collect": (
        "When you create an account we ask for {d1} and {d2}.",
        "We collect {d1}, {d2} and {d3} when you use the {product}.",
        "Our servers automatically record {d1} and {d2} each time you open the {product}.",
        "If you contact our support team we keep {d1} and a record of the conversation.",
        "We may receive {d1} from partners who help us verify your identity.",
        "Some features need {d1}; you can decline, but those features will not work.",
        "We do not ask for {d1} unless a feature you choose requires it.",
        "When you pay for a subscription, our payment processor collects {d1} on our behalf.",
    ),
    "use": (
        "We use the information we collect to {p1} and to {p2}.",
        "We rely on our legitimate interests to {p1}, and on your consent to {p2}.",
        "Aggregated statistics that do not identify you help us {p1}.",
        "We may combine information from different sources to {p1}.",
        "We never use {d1} to {p1} without asking you first.",
        "Automated systems help us {p1}; a person reviews any decision that affects your account.",
    ),
    "share": (
        "We share {d1} with {r1} so that they can {p1} for us.",
        "We disclose information to {r1} and {r2} under contracts that limit how they may use it.",
        "We do not sell {d1} to {r1}.",
        "If {short} is involved in a merger or acquisition, your information may pass to {r1}.",
        "We may share aggregated or de-identified information with {r1}.",
        "We require {r1} to protect your information as carefully as we do.",
    ),
    "cookies": (
        "We and {r1} use cookies, pixels and similar technologies on the {product}.",
        "Strictly necessary cookies keep you signed in and remember your preferences.",
        "Analytics cookies tell us which pages are popular and how visitors move between them.",
        "You can block cookies in your browser settings, but parts of the {product} may stop "
        "working.",
        "Our cookie banner lets you refuse advertising cookies at any time.",
    ),
    "retain": (
        "We keep {d1} for as long as your account is open and for {period} after it is closed.",
        "Server logs containing {d1} are deleted after {period}.",
        "We keep records of transactions for {period} to meet tax and accounting rules.",
        "When we no longer need information, we delete it or make it anonymous.",
    ),
    "security": (
        "We protect your information with encryption in transit and at rest.",
        "Access to personal information is limited to staff who need it for their work.",
        "We test our systems regularly and train our staff in data protection.",
        "No method of transmission over the internet is completely secure.",
        "If we learn of a breach that affects you, we will tell you without undue delay.",
    ),
    "rights": (
        "Depending on where you live, you may have the right to {right1}.",
        "You may also have the right to {right1} and to {right2}.",
        "You can exercise these rights from your account settings or by writing to us.",
        "We will answer your request within {period} and will not charge you for it.",
        "We may need to verify your identity before we act on a request.",
    ),
    "children": (
        "The {product} is not directed to children under 13.",
        "We do not knowingly collect information from children under 16 without parental consent.",
        "If you believe a child has given us information, please contact us and we will delete it.",
    ),
    "transfer": (
        "{short} is based in {country} and processes information there and in other countries.",
        "When we transfer information out of your country we use standard contractual clauses.",
        "Our service providers may store information in {country}.",
    ),
    "changes": (
        "We may update this policy from time to time.",
        "If a change is significant, we will notify you by email or in the {product} before it "
        "takes effect.",
        "The date at the top of this page shows when the policy was last changed.",
    ),
    "contact": (
        "If you have questions about this policy, write to our data protection officer.",
        "You can reach us at privacy@{domain} or by post at our registered office.",
    ),
    "region": (
        "Residents of {region} have additional rights under local law.",
        "Residents of {region} may ask us to {right1}.",
        "In the last twelve months we have disclosed {d1} to {r1} for business purposes.",
        "We do not discriminate against residents of {region} who exercise their rights.",
        "An authorised agent may make a request on behalf of a resident of {region}.",
        "We respond to verified requests from {region} within {period}.",
    ),
}
SECTIONS = (
    ("Introduction", "intro"),
    ("Information we collect", "collect"),
    ("How we use information", "use"),
    ("How we share information", "share"),
    ("Cookies and similar technologies", "cookies"),
    ("How long we keep information", "retain"),
    ("How we protect information", "security"),
    ("Your rights and choices", "rights"),
    ("Children", "children"),
    ("International transfers", "transfer"),
    ("Changes to this policy", "changes"),
    ("Contact us", "contact"),
)
ADDED_CLAUSE = (
    "We also share your precise location and purchase history with advertising partners and "
    "data brokers so that they can build profiles for targeted advertising."
)


def _fill(template: str, rng: random.Random, site: dict[str, str], **extra: str) -> str:
    d = rng.sample(DATA, 3)
    p = rng.sample(PURPOSES, 2)
    r = rng.sample(RECIPIENTS, 2)
    rights = rng.sample(RIGHTS, 2)
    return template.format(
        d1=d[0], d2=d[1], d3=d[2], p1=p[0], p2=p[1], r1=r[0], r2=r[1],
        right1=rights[0], right2=rights[1], period=rng.choice(PERIODS),
        country=rng.choice(COUNTRIES), **site, **extra,
    )  # fmt: skip


def _paragraph(kind: str, rng: random.Random, site: dict[str, str], **extra: str) -> str:
    pool = SENTENCES[kind]
    picks = [rng.choice(pool) for _ in range(rng.randint(2, 5))]
    return " ".join(_fill(t, rng, site, **extra) for t in picks)


def page_blocks(i: int) -> tuple[dict[str, str], list[str]]:
    """The ``<main>`` of page ``i`` as a list of HTML blocks (deterministic per page)."""
    rng = random.Random(i)
    co = f"{rng.choice(COMPANIES)} {rng.choice(SUFFIXES)}"
    short = co.split()[0]
    site = {
        "co": co,
        "short": short,
        "product": rng.choice(PRODUCTS),
        "domain": f"{short.lower()}{i}.example",
    }
    target = rng.randint(20_000, 58_000)  # the whole page lands at ~20-60 KB
    updated = date(2020 + rng.randint(0, 5), rng.randint(1, 12), rng.randint(1, 28))
    blocks = [
        f"<h1>{co} privacy policy</h1>",
        f'<p class="updated">Last updated: {updated:%B} {updated.day}, {updated.year}</p>',
    ]
    for title, kind in SECTIONS:
        blocks.append(f'<h2 id="{kind}">{title}</h2>')
        for _ in range(rng.randint(2, 4)):
            blocks.append(f"<p>{_paragraph(kind, rng, site)}</p>")
        if kind in ("collect", "share", "rights"):
            pool = {"collect": DATA, "share": RECIPIENTS, "rights": RIGHTS}[kind]
            items = "".join(f"<li>{x[0].upper()}{x[1:]}.</li>" for x in rng.sample(pool, 5))
            blocks.append(f"<ul>{items}</ul>")
    size = sum(map(len, blocks))
    regions = list(REGIONS)
    rng.shuffle(regions)
    blocks.append('<h2 id="regional">Regional disclosures</h2>')
    while size < target:
        region = regions.pop() if regions else f"region {len(blocks)}"
        block = [f"<h3>{region}</h3>"]
        for _ in range(rng.randint(3, 6)):
            block.append(f"<p>{_paragraph('region', rng, site, region=region)}</p>")
        blocks += block
        size += sum(map(len, block))
    return site, blocks


def make_page(i: int, changed: bool = False) -> bytes:
    """A policy page with site chrome around ``<main>``; ``changed`` adds one material change."""
    site, blocks = page_blocks(i)
    if changed:
        share = blocks.index('<h2 id="share">How we share information</h2>')
        blocks.insert(share + 2, f"<p>{ADDED_CLAUSE}</p>")
        retain = blocks.index('<h2 id="retain">How long we keep information</h2>')
        blocks[retain + 1] = re.sub(
            r"for (30 days|90 days|6 months|12 months|two years)", "for ten years",
            blocks[retain + 1], count=1,
        )  # fmt: skip
    rng = random.Random(-i)
    links = "".join(
        f'<li><a href="/{w.lower()}">{w}</a></li>'
        for w in rng.sample(
            ["Products", "Pricing", "Blog", "Careers", "Press", "Help", "Developers", "Partners",
             "Status", "Security", "Investors", "Community", "Shop", "Events"], 9
        )
    )  # fmt: skip
    tracking = json.dumps({"site": site["domain"], "page": "privacy", "ab": rng.random()})
    head = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Privacy policy | {site['co']}</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<link rel='stylesheet' href='/static/site.{i:04x}.css'>"
        f"<script>window.__analytics = {tracking};</script></head><body>"
        f"<header><a class='logo' href='/'>{site['short']}</a><nav><ul>{links}</ul></nav>"
        "<a href='/login'>Sign in</a></header>"
        "<div class='cookie-banner'>We use cookies to improve your experience. "
        "<button>Accept all</button><button>Settings</button></div>"
    )
    foot = (
        f"<aside><h2>Related</h2><ul><li><a href='/terms'>Terms of service</a></li>"
        "<li><a href='/cookies'>Cookie policy</a></li></ul></aside>"
        f"<footer><nav><ul>{links}</ul></nav><p>&copy; {site['co']}. All rights reserved.</p>"
        "<script src='/static/app.js' defer></script></footer></body></html>\n"
    )
    main = "<main><article>" + "\n".join(blocks) + "</article></main>"
    return (head + main + foot).encode()


# -- nginx ------------------------------------------------------------------------------------


def find_nginx(given: str | None) -> str | None:
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("nginx") or next(
        (p for p in NGINX_CANDIDATES if os.access(p, os.X_OK)), None
    )


def find_urlwatch(given: str | None) -> str | None:
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("urlwatch") or next(
        (p for p in URLWATCH_CANDIDATES if os.access(p, os.X_OK)), None
    )


class Nginx:
    """nginx in the foreground, one process (master_process off), so its CPU is one /proc read."""

    def __init__(
        self, binary: str, work: Path, root: Path, hosts: int, rate: str | None = None
    ) -> None:
        self.binary, self.work, self.root, self.hosts = binary, work, root, hosts
        #: nginx `limit_rate` per connection (e.g. "200k"): a slow server, as real ones are
        self.rate = rate
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        (work / "tmp").mkdir(exist_ok=True)
        self.log = work / "access.log"
        self.log.touch()
        self.conf = work / "nginx.conf"
        self.proc: subprocess.Popen[bytes] | None = None
        self._seen = 0

    def configure(self, if_modified_since: str) -> None:
        listens = " ".join(f"listen 127.0.0.{k}:{self.port};" for k in range(1, self.hosts + 1))
        limit = f"limit_rate {self.rate};" if self.rate else ""
        w = self.work
        self.conf.write_text(
            f"""daemon off; master_process off; worker_processes 1; pid {w}/nginx.pid;
error_log {w}/error.log;
events {{ worker_connections 1024; }}
http {{
  default_type text/html; types {{ text/html html; }}
  etag on; if_modified_since {if_modified_since};
  log_format status '$status'; access_log {self.log} status;
  client_body_temp_path {w}/tmp; proxy_temp_path {w}/tmp; fastcgi_temp_path {w}/tmp;
  uwsgi_temp_path {w}/tmp; scgi_temp_path {w}/tmp;
  server {{ {listens} root {self.root}; keepalive_requests 100000; {limit} }}
}}
"""
        )

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf), "-p", str(self.work)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not start: {(self.work / 'error.log').read_text()}")

    def restart(self, if_modified_since: str) -> None:
        self.stop()
        self.configure(if_modified_since)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def statuses(self) -> dict[str, int]:
        """Answers logged since the last call, by status code."""
        lines = self.log.read_text().splitlines()
        new, self._seen = lines[self._seen :], len(lines)
        out: dict[str, int] = {}
        for line in new:
            out[line.strip()] = out.get(line.strip(), 0) + 1
        return out


# -- measured runs ----------------------------------------------------------------------------

_TIME_FIELDS = {
    "User time (seconds)": "user",
    "System time (seconds)": "sys",
    "Maximum resident set size (kbytes)": "rss_kb",
}


@dataclass
class Run:
    tool: str
    name: str
    wall: float
    cpu: float
    rss_mb: float
    server_cpu: float
    answers: dict[str, int]
    stdout: str
    exit: int
    extra: dict[str, object] = field(default_factory=dict)


def timed(tool: str, name: str, cmd: list[str], nginx: Nginx, env: dict[str, str]) -> Run:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall clock, CPU (with reaped children), peak RSS."""
    nginx.statuses()
    srv0 = nginx.cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - t0
    server_cpu = nginx.cpu() - srv0
    values: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        key, _, value = line.strip().rpartition(": ")
        if key in _TIME_FIELDS:
            values[_TIME_FIELDS[key]] = float(value)
    if "rss_kb" not in values:
        sys.exit(f"{tool} {name}: no /usr/bin/time output; stderr:\n{proc.stderr[-3000:]}")
    run = Run(
        tool=tool,
        name=name,
        wall=wall,
        cpu=values["user"] + values["sys"],
        rss_mb=values["rss_kb"] / 1024,
        server_cpu=server_cpu,
        answers=nginx.statuses(),
        stdout=proc.stdout,
        exit=proc.returncode,
    )
    if tool == "policywatch":
        try:
            results = json.loads(proc.stdout)["results"]
        except (ValueError, KeyError):
            sys.exit(f"policywatch {name}: no JSON report; stderr:\n{proc.stderr[-3000:]}")
        counts: dict[str, int] = {}
        for r in results:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        run.extra["statuses"] = counts
        errors = [r["error"] for r in results if r["status"] == "error"]
        if errors:
            print(f"  {len(errors)} errors, e.g. {errors[0]}", file=sys.stderr)
    elif proc.returncode != 0:
        print(f"  urlwatch exited {proc.returncode}: {proc.stderr[-500:]}", file=sys.stderr)
    print(f"  {describe(run)}", file=sys.stderr)
    return run


def describe(run: Run) -> str:
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(run.answers.items()))
    extra = f" {run.extra['statuses']}" if "statuses" in run.extra else ""
    return (
        f"{run.tool:<11} {run.name:<24} wall {run.wall:6.2f} s  cpu {run.cpu:5.2f} s  "
        f"rss {run.rss_mb:4.0f} MB  nginx {run.server_cpu:4.2f} s  [{answers}]{extra}"
    )


# -- setup of the two tools -------------------------------------------------------------------


def write_policywatch_config(site: Path, urls: list[str]) -> Path:
    lines = [
        "[site]",
        'name = "Bench watcher"',
        'base_url = "http://localhost:8080"',
        "",
        "[archive]",
        'path = "archive"',
        "",
        "[feeds]",
        'dir = "feeds"',
        "",
    ]
    for i, url in enumerate(urls):
        lines += [
            "[[policy]]",
            f'id = "p{i}"',
            f'title = "Privacy policy {i}"',
            f'source = "{url}"',
            'select = ["main"]',
            "",
        ]
    config = site / "config.toml"
    config.write_text("\n".join(lines))
    return config


def write_urlwatch_files(work: Path, urls: list[str]) -> list[str]:
    jobs = [
        f"name: p{i}\nurl: {url}\nfilter:\n  - css: main\n  - html2text: re\n"
        for i, url in enumerate(urls)
    ]
    (work / "urls.yaml").write_text("---\n".join(jobs))
    # every reporter off but stdout (sent to a pipe); the first run reports 1,000 new pages
    (work / "urlwatch.yaml").write_text(
        "display: {new: true, error: true, unchanged: false, empty-diff: false}\n"
        "report:\n  text: {line_length: 75, details: true, footer: false, minimal: false,"
        " separate: false}\n  stdout: {enabled: true, color: false}\n"
        "  html: {diff: unified, separate: false}\n  markdown: {details: true, footer: false,"
        " minimal: false, separate: false}\n"
        "  email: {enabled: false}\n"
    )
    return [
        "--urls", str(work / "urls.yaml"), "--config", str(work / "urlwatch.yaml"),
        "--cache", str(work / "cache.db"), "--hooks", str(work / "hooks.py"),
    ]  # fmt: skip


def publish_seconds(config: Path, env: dict[str, str]) -> float:
    """``Tracker.publish()`` alone on the archive as the first pass left it (a fresh process).

    The feeds directory is emptied first: publish skips files whose bytes are unchanged, and the
    first pass wrote every file.
    """
    shutil.rmtree(config.parent / "feeds", ignore_errors=True)
    code = (
        "import sys, time\n"
        "from policywatch.config import load_config\n"
        "from policywatch.tracker import Tracker\n"
        "t = Tracker(load_config(__import__('pathlib').Path(sys.argv[1])))\n"
        "t.archive.policies()\n"
        "t0 = time.perf_counter(); t.publish(); print(time.perf_counter() - t0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return float(out.stdout.strip())


# -- report -----------------------------------------------------------------------------------


def row(label: str, runs: list[Run], pages: int) -> str:
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    rss = max(r.rss_mb for r in runs)
    srv = statistics.median(r.server_cpu for r in runs)
    a = runs[-1].answers
    n = f" (median of {len(runs)})" if len(runs) > 1 else ""
    return (
        f"| {label}{n} | {a.get('200', 0)} | {a.get('304', 0)} | {wall:.2f} | {pages / wall:,.0f} "
        f"| {cpu:.2f} | {rss:.0f} | {srv:.2f} |"
    )


def versions(nginx: str, urlwatch: str | None) -> str:
    nv = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
    uv = (
        subprocess.run([urlwatch, "--version"], capture_output=True, text=True).stdout.strip()
        if urlwatch
        else "urlwatch: not installed"
    )
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; nproc {os.cpu_count()} ({cpu}); Linux "
        f"{platform.release()}; Python {platform.python_version()}; "
        f"{nv.replace('nginx version: ', '')}; "
        f"{uv}; {git}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="unchanged passes per tool")
    parser.add_argument("--hosts", type=int, default=1, help="spread pages over 127.0.0.1..K")
    parser.add_argument("--nginx", help="the nginx executable (default: PATH, /usr/sbin)")
    parser.add_argument("--urlwatch", help="the urlwatch executable (default: PATH, /tmp/uwenv)")
    parser.add_argument("--no-urlwatch", action="store_true", help="policywatch only")
    parser.add_argument("--keep", type=Path, help="work in this (new) directory and keep it")
    parser.add_argument(
        "--rate", help="nginx limit_rate per connection, e.g. 200k: pages take time to arrive"
    )
    parser.add_argument(
        "--first-only", action="store_true", help="only the first pass of each tool"
    )
    args = parser.parse_args()

    nginx_bin = find_nginx(args.nginx)
    if nginx_bin is None:
        print("skipped: nginx not found (Debian: apt-get install nginx-light)")
        return 0
    if not Path("/usr/bin/time").exists():
        print("skipped: /usr/bin/time not found (Debian: apt-get install time)")
        return 0
    urlwatch = None if args.no_urlwatch else find_urlwatch(args.urlwatch)
    if urlwatch is None and not args.no_urlwatch:
        print(
            "urlwatch not found: running policywatch alone. For the side-by-side: "
            "python3 -m venv /tmp/uwenv && /tmp/uwenv/bin/pip install urlwatch",
            file=sys.stderr,
        )

    if args.keep:
        args.keep.mkdir(parents=True)
        work = args.keep.resolve()
    else:
        work = Path(tempfile.mkdtemp(prefix="pw-watch-bench-"))
    try:
        return bench(args, work, nginx_bin, urlwatch)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path, nginx_bin: str, urlwatch: str | None) -> int:
    root, site, uw = work / "www", work / "site", work / "urlwatch"
    # Both tools start from compiled bytecode, as after `pip install` (which compiled urlwatch's
    # venv). This checkout may never have been compiled (PYTHONDONTWRITEBYTECODE is set on some
    # machines): every run would then compile policywatch's modules again, ~0.05-0.1 s.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "src" / "policywatch")],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    for d in (root, site, uw):
        d.mkdir()
    t0 = time.perf_counter()
    past = time.time() - 3600  # so that pages rewritten later always get a newer Last-Modified
    sizes = []
    for i in range(args.pages):
        page = root / f"p{i}.html"
        page.write_bytes(make_page(i))
        os.utime(page, (past, past))
        sizes.append(page.stat().st_size)
    print(
        f"# {args.pages} pages, {min(sizes) / 1e3:.0f}-{max(sizes) / 1e3:.0f} KB "
        f"({sum(sizes) / 1e6:.1f} MB), generated in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    nginx = Nginx(nginx_bin, work, root, args.hosts, args.rate)
    urls = [
        f"http://127.0.0.{i % args.hosts + 1}:{nginx.port}/p{i}.html" for i in range(args.pages)
    ]
    config = write_policywatch_config(site, urls)
    uw_args = write_urlwatch_files(uw, urls) if urlwatch else []
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), NO_COLOR="1")
    pw_cmd = [sys.executable, "-m", "policywatch", "check", "--config", str(config)]
    pw_cmd += ["--format", "json"]
    uw_cmd = [urlwatch, *uw_args] if urlwatch else []

    runs: dict[tuple[str, str], list[Run]] = {}

    def measure(tool: str, name: str) -> Run:
        cmd = pw_cmd if tool == "policywatch" else uw_cmd
        run = timed(tool, name, cmd, nginx, env)
        runs.setdefault((tool, name), []).append(run)
        return run

    tools = ["policywatch"] + (["urlwatch"] if urlwatch else [])
    nginx.configure("before")
    nginx.start()
    try:
        for tool in tools:
            measure(tool, "first")
        revisions = int(
            subprocess.run(
                ["git", "-C", str(site / "archive"), "rev-list", "--count", "HEAD"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        publish = publish_seconds(config, env)
        if not args.first_only:
            for _ in range(args.repeats):
                for tool in tools:
                    measure(tool, "unchanged")
            changed = random.Random(42).sample(range(args.pages), args.pages // 10)
            for i in changed:
                (root / f"p{i}.html").write_bytes(make_page(i, changed=True))
            for tool in tools:
                measure(tool, "10% changed")
            nginx.restart("exact")  # nginx's default: If-Modified-Since must equal Last-Modified
            for tool in tools:
                measure(tool, "unchanged, IMS exact")
    finally:
        nginx.stop()

    n = args.pages
    print(f"\nMachine: {versions(nginx_bin, urlwatch)}")
    print(
        f"Pages: {n}, {min(sizes) / 1e3:.0f}-{max(sizes) / 1e3:.0f} KB "
        f"({sum(sizes) / 1e6:.1f} MB), {args.hosts} host(s); nginx 1 process, etag on, "
        f"limit_rate {args.rate or 'none'}, if_modified_since before (last row: exact)\n"
    )
    print("| tool / pass | 200 | 304 | wall s | sources/s | CPU s | peak RSS MB | nginx CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("first", "unchanged", "10% changed", "unchanged, IMS exact"):
        for tool in tools:
            if (tool, name) in runs:
                print(row(f"{tool} {name}", runs[(tool, name)], n))
    first = runs[("policywatch", "first")][0]
    print(
        f"\npolicywatch first pass: {revisions} revisions in the archive "
        f"({first.extra['statuses']}); publish step alone: {publish:.2f} s "
        f"({publish / first.wall:.0%} of the first pass's wall time)"
    )
    if args.first_only:
        return 0
    ch = runs[("policywatch", "10% changed")][0]
    print(f"policywatch 10% changed statuses: {ch.extra['statuses']}")
    pw_u = statistics.median(r.wall for r in runs[("policywatch", "unchanged")])
    rate = n / pw_u
    print(
        f"unchanged pass: {rate:,.0f} sources/s "
        f"(target >= 200: {'met' if rate >= 200 else 'MISSED'})"
    )
    if urlwatch:
        uw_u = statistics.median(r.wall for r in runs[("urlwatch", "unchanged")])
        ratio = uw_u / pw_u
        print(
            f"vs urlwatch unchanged: {ratio:.1f}x faster (target >= 5x: "
            f"{'met' if ratio >= 5 else 'MISSED'})"
        )
    peak = max(r.rss_mb for (tool, _), rs in runs.items() if tool == "policywatch" for r in rs)
    print(
        f"policywatch peak RSS: {peak:.0f} MB "
        f"(target < 300 MB: {'met' if peak < 300 else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
