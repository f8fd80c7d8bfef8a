"""The README is executed: every ``$ policywatch ...`` example runs and must print what it shows.

Revision ids and timestamps differ from run to run, so both sides are masked before comparing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policywatch.cli import cli

REPO_ROOT = Path(__file__).resolve().parent.parent
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")

_BLOCK = re.compile(r"```console\n(.*?)```", re.S)
_MASKS = [
    (re.compile(r"\b[0-9a-f]{40}\b"), "<REV>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<rev>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)"), "<TIME>"),
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d"), "<TIME>"),
    (re.compile(r"[ \t]+$", re.M), ""),
]


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text.strip("\n")


def examples() -> list[tuple[str, str]]:
    """(command, expected output) pairs, in README order."""
    pairs: list[tuple[str, str]] = []
    for block in _BLOCK.findall(README):
        command: str | None = None
        output: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    pairs.append((command, "\n".join(output)))
                command, output = line[2:], []
            elif command is not None:
                output.append(line)
        if command is not None:
            pairs.append((command, "\n".join(output)))
    return pairs


def test_readme_has_examples() -> None:
    commands = [c for c, _ in examples()]
    assert any(c.startswith("policywatch check") for c in commands)
    assert any(c.startswith("policywatch diff") for c in commands)


def test_readme_examples_print_what_they_show(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(REPO_ROOT / "config.toml", site)
    shutil.copytree(REPO_ROOT / "policies", site / "policies")
    shutil.copytree(REPO_ROOT / "docs" / "examples", site / "docs" / "examples")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "100"
    for command, expected in examples():
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=site,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        shown = proc.stdout + proc.stderr
        assert mask(shown) == mask(expected), f"README example `{command}` printed:\n{shown}"


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_documented(name: str) -> None:
    assert f"policywatch {name}" in README, f"README does not mention `policywatch {name}`"
