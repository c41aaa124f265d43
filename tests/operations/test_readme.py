"""The README's shell examples run as written, top to bottom, against a live `haochaping serve`.

Every ```sh block runs, in order, in one bash session, except a block right after a
`<!-- readme: not run -->` line (the Quick start's install lines, which this test itself does).
The harness changes only what a reader changes: the port (`localhost:8000` becomes the test
server's), the bootstrap key (a line `ADMIN=hcp_...` is where a reader pastes it; here it comes
from the environment), and curl fails on any 4xx/5xx (`--fail-with-body`), so an example that
stopped working fails this test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.live_server import live_server
from tests.fixtures.paths import ROOT

README = ROOT / "README.md"
NOT_RUN = "<!-- readme: not run -->"
DB = "haochaping_readme"
PLACEHOLDER_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?ADMIN=hcp_\.\.\..*$", re.MULTILINE)


def shell_blocks(markdown: str) -> list[str]:
    """The README's ```sh blocks in order, without those marked not to run."""
    blocks = []
    for match in re.finditer(r"^```sh\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL):
        before = markdown[: match.start()].rstrip().splitlines()
        if before and before[-1].strip() == NOT_RUN:
            continue
        blocks.append(match.group(1))
    return blocks


def test_the_readme_has_runnable_examples():
    blocks = shell_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    script = "\n".join(blocks)
    for needed in ("/v1/departments", "/v1/ratings", "/v1/complaints", "/v1/tickets", "/v1/stats"):
        assert needed in script, f"no runnable README example calls {needed}"


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl")
def test_readme_examples_run_against_a_live_service(pg_url, tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with live_server(pg_url, tmp_path, DB) as server:
        # A reader runs the examples in the checkout, where `.venv/bin/haochaping` is; here in a
        # folder of the test's own (files the examples write stay out of the checkout).
        workdir = tmp_path / "reader"
        workdir.mkdir()
        (workdir / ".venv").symlink_to(Path(sys.prefix))
        markdown = README.read_text(encoding="utf-8")
        script = "\n".join(shell_blocks(markdown))
        script = PLACEHOLDER_ASSIGNMENT.sub("", script)
        script = script.replace("localhost:8000", f"localhost:{server.port}")
        script = script.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
        assert "hcp_..." not in script, "a key placeholder the harness does not fill"
        prelude = (
            "set -euo pipefail\n"
            'curl() { command curl --fail-with-body -sS "$@"; echo; }\n'
            f"export HAOCHAPING_URL={server.base}\n"
        )
        (tmp_path / "readme.sh").write_text(prelude + script, encoding="utf-8")
        result = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")],
            env={**env, "ADMIN": server.keys["admin"]},
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 0, (
        f"README examples failed (exit {result.returncode})\n--- stdout\n"
        f"{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
