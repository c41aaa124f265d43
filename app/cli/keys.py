"""`haochaping keys create`, and the bootstrap admin key of a first start."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from app.config import Settings

log = logging.getLogger("haochaping")

BOOTSTRAP_KEY_FILE = "bootstrap-admin-key"


async def create_key(
    url: str, settings: Settings, role: str, name: str, department_code: str | None
) -> str:
    """A new client of this role with one key; the key, to be shown once."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.auth import service as auth
    from app.db import create_engine

    engine = create_engine(url, settings)
    try:
        async with engine.begin() as conn:
            session = AsyncSession(bind=conn)
            client = await auth.create_client(
                session, name=name, role=role, department_code=department_code
            )
            _, key = await auth.issue_key(session, client.id)
            await session.flush()
        return key
    finally:
        await engine.dispose()


async def bootstrap_admin_key(url: str, settings: Settings) -> str | None:
    """On first start with no keys at all, issue one admin key."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            # One process bootstraps even when several start at once.
            await conn.execute(text("SELECT pg_advisory_xact_lock(7470001)"))
            count = (await conn.execute(text("SELECT count(*) FROM api_key"))).scalar_one()
    finally:
        await engine.dispose()
    if count:
        return None
    return await create_key(url, settings, "admin", "bootstrap admin", None)


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Issue a key and print it once."""
    from app import migrate
    from app.db import resolve_database_url

    url = resolve_database_url(settings)
    migrate.upgrade(url)
    name = args.name or f"{args.role} key"
    print(asyncio.run(create_key(url, settings, args.role, name, args.department)))
    return 0


def hand_over_bootstrap_key(key: str, data_dir: Path) -> None:
    """The first admin key goes to a person at a terminal, or else to a file only its owner can
    read, never into the log stream (logs are collected, shipped and kept)."""
    if sys.stderr.isatty():
        print(
            "\n  No API keys yet: here is a bootstrap admin key. It is shown only this once.\n"
            f"\n      {key}\n",
            file=sys.stderr,
            flush=True,
        )
        return
    path = write_secret_file(Path(data_dir) / BOOTSTRAP_KEY_FILE, key + "\n")
    log.warning(
        "no API keys yet: a bootstrap admin key was written to %s (readable by its owner only); "
        "keep it somewhere safe and delete the file",
        path,
        extra={"key_file": str(path)},
    )


def write_secret_file(path: Path, text: str) -> Path:
    """Write `text` to `path` with mode 0600, atomically (never readable by others, not even
    for a moment: the file is created with that mode, then renamed into place)."""
    path = path.expanduser().resolve()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
