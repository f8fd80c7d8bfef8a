from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from policywatch.config import load_config, parse_duration
from policywatch.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "p.md").write_text("# Policy\n\nWe collect nothing.\n")
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


MINIMAL = """
[[policy]]
id = "privacy"
source = "p.md"
"""


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    assert config.site.name == "Example Co."
    assert config.archive.path == tmp_path / "archive"
    assert config.feeds.dir == tmp_path / "feeds"
    assert config.database.url == f"sqlite:///{(tmp_path / 'policywatch.db').resolve()}"
    assert config.schedule.every == timedelta(hours=6)
    assert config.fetch.per_host == 2
    (policy,) = config.policies
    assert policy.id == "privacy" and policy.title == "privacy"
    assert policy.source == str(tmp_path / "p.md")


def test_the_example_site_loads() -> None:
    root = Path(__file__).resolve().parent.parent
    config = load_config(root / "config.toml")
    assert [p.id for p in config.policies] == ["privacy"]


def test_relative_paths_resolve_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, MINIMAL + '\n[archive]\npath = "data/archive"\n')
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.archive.path == tmp_path / "data" / "archive"
    # the secret that signs email links too: a cron job run from elsewhere must not sign with
    # a secret of its own that the web app does not know
    assert config.site.secret_file == tmp_path / "policywatch.secret"
    other = write(tmp_path, MINIMAL + '\n[site]\nsecret_file = "keys/links.secret"\n')
    assert load_config(other).site.secret_file == tmp_path / "keys" / "links.secret"


def test_trusted_proxies_default_to_loopback_and_can_be_none(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL)).site.trusted_proxies == ("127.0.0.1", "::1")
    none = write(tmp_path, MINIMAL + "\n[site]\ntrusted_proxies = []\n")
    assert load_config(none).site.trusted_proxies == ()
    nets = write(tmp_path, MINIMAL + "\n[site]\ntrusted_proxies = ['10.0.0.0/8', '::1']\n")
    assert load_config(nets).site.trusted_proxies == ("10.0.0.0/8", "::1")


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        (
            MINIMAL + "\n[site]\nnmae = 'x'\n",
            "site.nmae",
            "one of: base_url, name, secret_file, trusted_proxies",
        ),
        (
            MINIMAL + "\n[site]\ntrusted_proxies = ['127.0.0.1', 'proxy.local']\n",
            "site.trusted_proxies",
            "IP addresses or networks",
        ),
        (MINIMAL + "\n[schedule]\nevery = 'often'\n", "schedule.every", "duration"),
        (MINIMAL + "\n[fetch]\nper_host = 0\n", "fetch.per_host", "between 1 and 64"),
        (MINIMAL + "\n[fetch]\nca_file = 'ca.pem'\n", "fetch.ca_file", "a readable file"),
        (MINIMAL + "\n[mail]\nport = 'smtp'\n", "mail.port", "integer"),
        (MINIMAL + "\n[site]\nbase_url = 'example.com'\n", "site.base_url", "absolute http(s) URL"),
        ("[[policy]]\nid = 'Privacy Policy'\nsource = 'p.md'\n", "policy[0].id", "[a-z0-9-]+"),
        (
            "[[policy]]\nid = 'privacy'\nsource = 'missing.md'\n",
            "policy.privacy.source",
            "existing file",
        ),
        ("[[policy]]\nid = 'privacy'\n", "policy.privacy.source", "a string"),
        (MINIMAL + MINIMAL, "policy[1].id", "used by one policy only"),
        ("[site]\nname = 'x'\n", "policy", "at least one [[policy]]"),
        ("unknown = 1\n" + MINIMAL, "unknown", "one of:"),
        (
            MINIMAL + "\n[database]\nurl = 'mysql://x'\n",
            "database.url",
            "sqlite:/// or postgresql://",
        ),
        ("[[policy]]\nid = 'privacy'\nsource = 'ftp://x/y'\n", "policy.privacy.source", "http(s)"),
    ],
)
def test_bad_values_name_the_file_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert info.value.key == key
    assert expected in message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[[policy]\n"))
    with pytest.raises(ConfigError, match="policywatch init"):
        load_config(tmp_path / "nope.toml")


def test_smtp_credentials_come_from_the_environment_only(tmp_path: Path) -> None:
    env = {"POLICYWATCH_SMTP_USERNAME": "mailer", "POLICYWATCH_SMTP_PASSWORD": "s3cr3t-pw"}
    config = load_config(write(tmp_path, MINIMAL), environ=env)
    assert (config.mail.username, config.mail.password) == ("mailer", "s3cr3t-pw")
    assert "s3cr3t-pw" not in repr(config)
    with pytest.raises(ConfigError, match=r"mail\.password"):
        load_config(write(tmp_path, MINIMAL + "\n[mail]\npassword = 'x'\n"))


def test_url_sources_are_accepted_without_touching_the_network(tmp_path: Path) -> None:
    text = "[[policy]]\nid = 'terms'\nsource = 'https://example.com/terms'\nselect = ['main']\n"
    (policy,) = load_config(write(tmp_path, text)).policies
    assert policy.is_url and policy.select == ("main",)


@pytest.mark.parametrize(
    ("value", "seconds"), [("30s", 30), ("15m", 900), ("6h", 21600), ("1d", 86400), (90, 90)]
)
def test_parse_duration(value: str | int, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["", "6 hours", "-1s", "0", True])
def test_parse_duration_rejects(value: str | bool) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)
