"""The README's shell examples run as written, top to bottom, against a live `haochaping serve`.

Every ```sh block runs, in order, in one bash session, except a block right after a
`<!-- readme: not run -->` line (the Quick start's install lines, which this test itself does).
The harness changes only what a reader changes: the port (`localhost:8000` becomes the test
server's), the bootstrap key (a line `ADMIN=hcp_...` is where a reader pastes it; here it comes
from the environment), and curl fails on any 4xx/5xx (`--fail-with-body`), so an example that
stopped working fails this test.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app import migrate
from app.auth import service as auth_service
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _fresh_database(pg_url: str) -> tuple[str, str]:
    """A new empty database beside the test database; its URL and an admin key in it."""
    base, _, query = pg_url.partition("?")
    server = base.rsplit("/", 1)[0]
    url = f"{server}/{DB}" + (f"?{query}" if query else "")
    admin_url = f"{server}/postgres" + (f"?{query}" if query else "")
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{DB}"'))
    await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        from sqlalchemy.ext.asyncio import AsyncSession

        session = AsyncSession(bind=conn)
        client = await auth_service.create_client(session, name="readme admin", role="admin")
        _, key = await auth_service.issue_key(session, client.id)
        await session.flush()
    await engine.dispose()
    return url, key


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples use curl")
def test_readme_examples_run_against_a_live_service(pg_url, tmp_path):
    url, admin_key = asyncio.run(_fresh_database(pg_url))
    port = _free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HAOCHAPING_DATA_DIR": str(tmp_path / "data"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = open(tmp_path / "serve.log", "w")  # closed below
    server = subprocess.Popen(
        [str(bin_dir / "haochaping"), "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.2)

        # A reader runs the examples in the checkout, where `.venv/bin/haochaping` is; here in a
        # folder of the test's own (files the examples write stay out of the checkout).
        workdir = tmp_path / "reader"
        workdir.mkdir()
        (workdir / ".venv").symlink_to(Path(sys.prefix))
        markdown = README.read_text(encoding="utf-8")
        script = "\n".join(shell_blocks(markdown))
        script = PLACEHOLDER_ASSIGNMENT.sub("", script)
        script = script.replace("localhost:8000", f"localhost:{port}")
        script = script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        assert "hcp_..." not in script, "a key placeholder the harness does not fill"
        prelude = (
            "set -euo pipefail\n"
            'curl() { command curl --fail-with-body -sS "$@"; echo; }\n'
            f"export HAOCHAPING_URL={base}\n"
        )
        (tmp_path / "readme.sh").write_text(prelude + script, encoding="utf-8")
        result = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")],
            env={**env, "ADMIN": admin_key},
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, (
            f"README examples failed (exit {result.returncode})\n--- stdout\n"
            f"{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
