#!/usr/bin/env python3
"""Re-run the README's ``console`` examples and write their real output back (like ``cog -r``).

tests/test_docs.py fails when the README shows output the commands no longer print; after a
deliberate change of output, run ``.venv/bin/python scripts/update_readme.py`` and review the diff.
Commands run in a temporary copy of the example site, exactly as the test runs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(```console\n)(.*?)(```)", re.S)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        shutil.copy(ROOT / "config.toml", site)
        shutil.copytree(ROOT / "policies", site / "policies")
        shutil.copytree(ROOT / "docs" / "examples", site / "docs" / "examples")
        env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"

        def run_block(match: re.Match[str]) -> str:
            lines = []
            for line in match.group(2).splitlines():
                if not line.startswith("$ "):
                    continue
                proc = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", line[2:]],
                    cwd=site,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                lines.append(line)
                out = (proc.stdout + proc.stderr).rstrip("\n")
                if out:
                    lines.append(out)
            return match.group(1) + "\n".join(lines) + "\n" + match.group(3)

        text = BLOCK.sub(run_block, text)
    readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
