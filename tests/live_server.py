"""A real `haochaping serve` on 127.0.0.1, on a fresh database of its own, for tests that talk
HTTP over sockets (transport limits, the live contract run)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app import migrate
from app.auth import service as auth_service


@dataclass
class LiveServer:
    base: str
    host: str
    port: int
    database_url: str
    keys: dict[str, str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def fresh_database(pg_url: str, name: str, roles=("admin", "reader")) -> tuple[str, dict]:
    """A new migrated database beside the test database; its URL and a key per role."""
    base, _, query = pg_url.partition("?")
    server = base.rsplit("/", 1)[0]
    suffix = f"?{query}" if query else ""
    url, admin_url = f"{server}/{name}{suffix}", f"{server}/postgres{suffix}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    await asyncio.to_thread(migrate.upgrade, url)
    engine = create_async_engine(url)
    keys = {}
    async with engine.begin() as conn:
        session = AsyncSession(bind=conn)
        for role in roles:
            client = await auth_service.create_client(session, name=f"live {role}", role=role)
            _, keys[role] = await auth_service.issue_key(session, client.id)
        await session.flush()
        await conn.execute(text("INSERT INTO department (code, name) VALUES ('SJ', '市场局')"))
    await engine.dispose()
    return url, keys


@contextlib.contextmanager
def live_server(
    pg_url: str, tmp_path: Path, name: str, **env_settings: str
) -> Iterator[LiveServer]:
    """`haochaping serve` on a free port of 127.0.0.1 (HAOCHAPING_<setting> from env_settings),
    ready; stopped afterwards."""
    url, keys = asyncio.run(fresh_database(pg_url, name))
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HAOCHAPING_DATA_DIR": str(tmp_path / "data"),
        "HAOCHAPING_BACKGROUND_JOBS": "false",
        **{f"HAOCHAPING_{k.upper()}": v for k, v in env_settings.items()},
    }
    log_path = tmp_path / f"serve-{name}.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(bin_dir / "haochaping"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the service did not become ready"
            time.sleep(0.2)
        yield LiveServer(base, "127.0.0.1", port, url, keys)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
