"""config.toml + environment -> :class:`Config`.

Loaded once at the edge (the CLI or the web app factory) and passed down; nothing else reads the
file or the environment. Every error names the file, the key and what would be accepted, and is
raised before anything is written, so a typo never leaves a half-initialised archive behind.
Relative paths resolve against the directory holding the config file, not the working directory,
so ``policywatch --config site/config.toml check`` behaves the same from anywhere.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tomli

from .errors import ConfigError

__all__ = [
    "ArchiveConfig",
    "Config",
    "DatabaseConfig",
    "FeedsConfig",
    "FetchConfig",
    "MailConfig",
    "OptoutsConfig",
    "PolicyConfig",
    "ScheduleConfig",
    "SiteConfig",
    "load_config",
    "parse_duration",
]

POLICY_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | int | float) -> timedelta:
    """``"6h"``, ``"30s"``, ``"15m"``, ``"1d"``, ``"500ms"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"not a duration: {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class SiteConfig:
    name: str = "Example Co."
    base_url: str = "http://localhost:8080"
    #: HMAC secrets for the links in emails (created by init / on first use; mode 0600);
    #: POLICYWATCH_SECRET overrides it. Relative to the config file, like every path in it.
    secret_file: Path = Path("policywatch.secret")
    #: peers whose X-Forwarded-For names the real client (reverse proxies): addresses or
    #: networks. Loopback by default, as a proxy on the same host is the usual deployment.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class ArchiveConfig:
    path: Path


@dataclass(frozen=True, slots=True)
class FeedsConfig:
    dir: Path


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True, slots=True)
class MailConfig:
    host: str = "localhost"
    port: int = 25
    sender: str = "Example Co. <privacy@example.com>"
    #: "none", "starttls" or "tls" (implicit TLS, port 465)
    security: str = "none"
    #: PEM bundle of the CAs to trust for the relay's certificate, *instead of* the system
    #: trust store (a private relay's own CA); None: the system store. Never "don't verify".
    ca_file: Path | None = None
    #: messages per second, across all connections
    rate: float = 20.0
    connections: int = 4
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    #: PEM private key for DKIM signing (optional; needs the `dkim` extra)
    dkim_key: Path | None = None
    dkim_selector: str = "policywatch"


@dataclass(frozen=True, slots=True)
class OptoutsConfig:
    #: POSTed (JSON, HMAC-signed) for every new objection; empty: no webhook
    webhook: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    every: timedelta = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class FetchConfig:
    timeout: timedelta = timedelta(seconds=30)
    user_agent: str = "policywatch (+https://example.com/policies)"
    per_host: int = 2
    #: polite minimum gap between two requests to the same host
    min_gap: timedelta = timedelta(milliseconds=0)
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 2
    #: CA certificates (PEM) trusted for https sources *in addition to* the system's: policy
    #: pages on an intranet or a staging host with a private CA
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    id: str
    title: str
    source: str
    select: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    every: timedelta | None = None

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    site: SiteConfig
    archive: ArchiveConfig
    feeds: FeedsConfig
    database: DatabaseConfig
    mail: MailConfig
    schedule: ScheduleConfig
    fetch: FetchConfig
    policies: tuple[PolicyConfig, ...]
    optouts: OptoutsConfig = field(default_factory=lambda: OptoutsConfig())

    @property
    def root(self) -> Path:
        return self.path.parent

    def policy(self, policy_id: str) -> PolicyConfig | None:
        for p in self.policies:
            if p.id == policy_id:
                return p
        return None


_SITE = SiteConfig()
_MAIL = MailConfig()
_SCHEDULE = ScheduleConfig()
_FETCH = FetchConfig()


class _Reader:
    """Pulls typed values out of one TOML table and reports unknown keys."""

    def __init__(self, path: Path, table: Mapping[str, Any], prefix: str) -> None:
        self.path = path
        self.table = table
        self.prefix = prefix
        self.seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, message: str, expected: str | None = None) -> ConfigError:
        return ConfigError(message, path=str(self.path), key=self._key(key), expected=expected)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any, expected: str) -> Any:
        self.seen.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(key, f"got {value!r}", expected)
        if not isinstance(value, kind):
            raise self.error(key, f"got {type(value).__name__} {value!r}", expected)
        return value

    def string(self, key: str, default: str | None, *, required: bool = False) -> str:
        if required and key not in self.table:
            self.seen.add(key)
            raise self.error(key, "missing", "a string")
        value = self.get(key, str, default, "a string")
        if value is None:
            raise self.error(key, "missing", "a string")
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error(key, "empty", "a non-empty string")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, (list, str), [], "a list of strings")
        if isinstance(value, str):
            value = [value]
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(key, f"got {value!r}", "a list of non-empty strings")
        return tuple(value)

    def integer(self, key: str, default: int, *, minimum: int = 0, maximum: int = 2**31) -> int:
        value = self.get(key, int, default, f"an integer between {minimum} and {maximum}")
        if not minimum <= value <= maximum:
            raise self.error(key, f"got {value}", f"an integer between {minimum} and {maximum}")
        return int(value)

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.get(key, (int, float), default, f"a number >= {minimum}")
        if value < minimum:
            raise self.error(key, f"got {value}", f"a number >= {minimum}")
        return float(value)

    def duration(self, key: str, default: timedelta | None) -> timedelta | None:
        value = self.get(
            key, (str, int, float), None, 'a duration such as "30s", "15m", "6h", "1d"'
        )
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.error(key, str(exc), 'a duration such as "30s", "15m", "6h", "1d"') from None

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise self.error(unknown[0], "unknown key", f"one of: {known}")


_SECTIONS = (
    "site",
    "archive",
    "feeds",
    "database",
    "mail",
    "schedule",
    "fetch",
    "optouts",
    "policy",
)


def _table(path: Path, data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(
            f"got {type(value).__name__}", path=str(path), key=name, expected="a table"
        )
    return value


def _resolve_path(root: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (root / p)


def _resolve_database_url(root: Path, url: str, path: Path) -> str:
    scheme = url.split(":", 1)[0]
    if scheme.startswith("sqlite"):
        prefix = "sqlite:///"
        if not url.startswith(prefix):
            raise ConfigError(
                f"got {url!r}",
                path=str(path),
                key="database.url",
                expected='"sqlite:///relative/or/absolute/path.db" or a postgresql:// URL',
            )
        rest = url[len(prefix) :]
        if rest in ("", ":memory:") or rest.startswith("/"):
            return url
        return prefix + str((root / rest).resolve())
    if scheme.startswith(("postgresql", "postgres")):
        return url
    raise ConfigError(
        f"unsupported database {scheme!r}",
        path=str(path),
        key="database.url",
        expected="a sqlite:/// or postgresql:// URL",
    )


def load_config(
    path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate a config file; raise :class:`ConfigError` on anything unexpected."""
    env = os.environ if environ is None else environ
    cfg_path = Path(path)
    try:
        raw = cfg_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "no such file; run `policywatch init` to create one, or pass --config PATH",
            path=str(cfg_path),
        ) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", path=str(cfg_path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(cfg_path)) from None
    try:
        # tomli, not the standard library's tomllib: the same parser (tomllib is its copy), but
        # its wheels are compiled, ~3x faster on a thousand-policy config read at every command
        data = tomli.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=str(cfg_path)) from None
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(cfg_path)) from None
    cfg_path = cfg_path.resolve()
    root = cfg_path.parent

    top = _Reader(cfg_path, data, "")
    for name in _SECTIONS:
        top.seen.add(name)
    top.finish()

    r = _Reader(cfg_path, _table(cfg_path, data, "site"), "site")
    r.seen.add("trusted_proxies")  # known even when absent (the default applies)
    proxies = r.strings("trusted_proxies") if "trusted_proxies" in r.table else None
    for proxy in proxies or ():
        try:
            ipaddress.ip_network(proxy.strip(), strict=False)
        except ValueError:
            raise r.error(
                "trusted_proxies", f"got {proxy!r}", "IP addresses or networks (CIDR)"
            ) from None
    site = SiteConfig(
        name=r.string("name", _SITE.name),
        base_url=r.string("base_url", _SITE.base_url),
        secret_file=_resolve_path(root, r.string("secret_file", str(_SITE.secret_file))),
        trusted_proxies=_SITE.trusted_proxies
        if proxies is None
        else tuple(p.strip() for p in proxies),
    )
    r.finish()
    parts = urlsplit(site.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"got {site.base_url!r}",
            path=str(cfg_path),
            key="site.base_url",
            expected="an absolute http(s) URL",
        )

    r = _Reader(cfg_path, _table(cfg_path, data, "archive"), "archive")
    archive = ArchiveConfig(path=_resolve_path(root, r.string("path", "archive")))
    r.finish()

    r = _Reader(cfg_path, _table(cfg_path, data, "feeds"), "feeds")
    feeds = FeedsConfig(dir=_resolve_path(root, r.string("dir", "feeds")))
    r.finish()

    r = _Reader(cfg_path, _table(cfg_path, data, "database"), "database")
    configured = r.string("url", "sqlite:///policywatch.db")  # read (and checked) either way
    db_url = env.get("POLICYWATCH_DATABASE_URL") or configured
    database = DatabaseConfig(url=_resolve_database_url(root, db_url, cfg_path))
    r.finish()

    r = _Reader(cfg_path, _table(cfg_path, data, "mail"), "mail")
    security = r.string("security", "none")
    if security not in ("none", "starttls", "tls"):
        raise r.error("security", f"got {security!r}", '"none", "starttls" or "tls"')
    mail = MailConfig(
        host=r.string("host", _MAIL.host),
        port=r.integer("port", _MAIL.port, minimum=1, maximum=65535),
        sender=r.string("sender", _MAIL.sender),
        security=security,
        ca_file=_optional_path(r, root, "ca_file"),
        rate=r.number("rate", _MAIL.rate, minimum=0.01),
        connections=r.integer("connections", _MAIL.connections, minimum=1, maximum=64),
        username=env.get("POLICYWATCH_SMTP_USERNAME") or None,
        password=env.get("POLICYWATCH_SMTP_PASSWORD") or None,
        dkim_key=_optional_path(r, root, "dkim_key"),
        dkim_selector=r.string("dkim_selector", _MAIL.dkim_selector),
    )
    r.finish()

    r = _Reader(cfg_path, _table(cfg_path, data, "optouts"), "optouts")
    webhook = r.string("webhook", "").strip() or None
    if webhook is not None:
        parts = urlsplit(webhook)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise r.error("webhook", f"got {webhook!r}", "an absolute http(s) URL")
    optouts = OptoutsConfig(webhook=webhook)
    r.finish()

    r = _Reader(cfg_path, _table(cfg_path, data, "schedule"), "schedule")
    schedule = ScheduleConfig(every=r.duration("every", _SCHEDULE.every) or _SCHEDULE.every)
    r.finish()

    r = _Reader(cfg_path, _table(cfg_path, data, "fetch"), "fetch")
    fetch = FetchConfig(
        timeout=r.duration("timeout", _FETCH.timeout) or _FETCH.timeout,
        user_agent=r.string("user_agent", _FETCH.user_agent),
        per_host=r.integer("per_host", _FETCH.per_host, minimum=1, maximum=64),
        min_gap=_min_gap(r),
        max_bytes=r.integer("max_bytes", _FETCH.max_bytes, minimum=1024),
        max_redirects=r.integer("max_redirects", _FETCH.max_redirects, minimum=0, maximum=30),
        retries=r.integer("retries", _FETCH.retries, minimum=0, maximum=10),
        ca_file=_optional_path(r, root, "ca_file"),
    )
    r.finish()

    policies = _policies(cfg_path, root, data.get("policy"))
    return Config(
        path=cfg_path,
        site=site,
        archive=archive,
        feeds=feeds,
        database=database,
        mail=mail,
        schedule=schedule,
        fetch=fetch,
        policies=policies,
        optouts=optouts,
    )


def _optional_path(r: _Reader, root: Path, key: str) -> Path | None:
    value = r.string(key, "").strip()
    if not value:
        return None
    path = _resolve_path(root, value)
    if not path.is_file():
        raise r.error(key, f"no such file: {path}", "a readable file")
    return path


def _min_gap(r: _Reader) -> timedelta:
    r.seen.add("min_gap")
    if "min_gap" not in r.table or r.table["min_gap"] in (0, "0", "0s"):
        return _FETCH.min_gap
    return r.duration("min_gap", _FETCH.min_gap) or _FETCH.min_gap


def _policies(path: Path, root: Path, value: Any) -> tuple[PolicyConfig, ...]:
    if value is None:
        raise ConfigError(
            "no policies configured",
            path=str(path),
            key="policy",
            expected="at least one [[policy]] table with id, title and source",
        )
    if not isinstance(value, list):
        raise ConfigError(
            "must be an array of tables", path=str(path), key="policy", expected="[[policy]] tables"
        )
    out: list[PolicyConfig] = []
    seen: set[str] = set()
    for i, table in enumerate(value):
        if not isinstance(table, dict):
            raise ConfigError("must be a table", path=str(path), key=f"policy[{i}]")
        r = _Reader(path, table, f"policy[{i}]")
        pid = r.string("id", None, required=True)
        if not POLICY_ID.match(pid):
            raise r.error(
                "id", f"got {pid!r}", "lower-case letters, digits and dashes ([a-z0-9-]+)"
            )
        if pid in seen:
            raise r.error("id", f"duplicate id {pid!r}", "an id used by one policy only")
        seen.add(pid)
        r.prefix = f"policy.{pid}"
        source = r.string("source", None, required=True).strip()
        if source.startswith(("http://", "https://")):
            parts = urlsplit(source)
            if not parts.netloc:
                raise r.error("source", f"got {source!r}", "an absolute http(s) URL or a file path")
        elif "://" in source:
            raise r.error(
                "source", f"unsupported scheme in {source!r}", "an http(s) URL or a file path"
            )
        else:
            file = _resolve_path(root, source)
            if not file.is_file():
                raise r.error(
                    "source", f"no such file: {file}", "an existing file or an http(s) URL"
                )
            source = str(file)
        out.append(
            PolicyConfig(
                id=pid,
                title=r.string("title", pid),
                source=source,
                select=r.strings("select"),
                remove=r.strings("remove"),
                every=r.duration("every", None),
            )
        )
        r.finish()
    return tuple(out)
