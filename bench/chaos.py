"""Chaos run: ratings posted at load while PostgreSQL is SIGKILLed and restarted, then a
reconciliation: every event the service acknowledged (201 or 200) is stored exactly once.

    python -m bench.chaos [--seconds 20] [--clients 8] [--kill-at 6] [--down-for 3]

It starts `haochaping serve` on a fresh embedded database in a temporary directory. Each client
posts single events and batches with unique event_ids; a request that fails (503, a dropped
connection, a timeout) is retried with the same body (the same event_ids), as a tablet does. At the
end the server is sent SIGTERM while requests are in flight, to show they are drained.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx


class EmbeddedPostgres:
    """The embedded PostgreSQL in data_dir, which can be killed and started again."""

    def __init__(self, data_dir: Path, database: str = "haochaping") -> None:
        from app.db import start_embedded_postgres

        self.data_dir = Path(data_dir)
        self.pgdata = self.data_dir / "pgdata"
        self.url = start_embedded_postgres(self.data_dir, database=database)
        self.socket_dir = self._server().get_postmaster_info().socket_dir

    def _server(self):
        import pgserver

        return pgserver.get_server(self.pgdata, cleanup_mode=None)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once, as a crash or the OOM killer."""
        postmaster = self.postmaster_pid()
        if postmaster is None:
            return
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in victims):
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not die")
            time.sleep(0.02)
        self._forget_dead(victims)

    def stop(self) -> None:
        """pg_ctl stop -m immediate: no checkpoint, recovery at the next start."""
        from pgserver._commands import pg_ctl

        postmaster = self.postmaster_pid()
        with contextlib.suppress(Exception):
            pg_ctl(
                ["-w", "-t", "10", "-m", "immediate", "stop"],
                pgdata=self.pgdata,
                user=self._server().system_user,
            )
        if postmaster is not None:
            self._forget_dead([postmaster])

    def start(self) -> None:
        from pgserver._commands import pg_ctl
        from pgserver.utils import PostmasterInfo

        server = self._server()
        pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(server.log), "start"],
            pgdata=self.pgdata,
            user=server.system_user,
            timeout=60,
        )
        server._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)

    def _forget_dead(self, pids: list[int]) -> None:
        # Here nothing may reap a killed postmaster (no init that reaps): a zombie keeps its pid,
        # and PostgreSQL would take the lock files for a live server's. They are stale: remove.
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        socket = Path(self.socket_dir) / ".s.PGSQL.5432"
        for stale in (
            self.pgdata / "postmaster.pid",
            socket,
            socket.with_name(socket.name + ".lock"),
        ):
            stale.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _stat(int(entry))[1:2] == [str(parent)]:
            found.append(int(entry))
    return found


def _stat(pid: int) -> list[str]:
    """[state, ppid] of a process, [] if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[:2]
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    state = _stat(pid)
    return bool(state) and state[0] not in ("Z", "X")


# --- the load --------------------------------------------------------------------------------


@dataclass
class Tally:
    acknowledged: set[str] = field(default_factory=set)  # 201, or 200 for a stored retry
    rejected: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    attempts: int = 0
    retries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def saw(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


def new_event(rng: random.Random) -> dict:
    return {
        "event_id": f"chaos-{uuid.uuid4().hex}",
        "channel": rng.choice(["pc", "mobile", "self_service", "qr_code"]),
        "department_code": "CHAOS",
        "level": rng.choice([5, 5, 5, 4, 4, 3, 2, 1]),
        "rated_at": datetime.now(UTC).isoformat(),
    }


async def client_loop(
    http: httpx.AsyncClient, key: str, tally: Tally, stop_at: float, seed: int
) -> None:
    rng = random.Random(seed)
    headers = {"X-API-Key": key}
    while time.monotonic() < stop_at:
        batch = rng.random() < 0.3
        events = [new_event(rng) for _ in range(rng.randint(2, 50) if batch else 1)]
        tally.sent.update(e["event_id"] for e in events)
        # Retry the same body until the service answers; as a tablet, without giving up.
        while True:
            tally.attempts += 1
            try:
                if batch:
                    r = await http.post(
                        "/v1/ratings/batch", json={"events": events}, headers=headers
                    )
                else:
                    r = await http.post("/v1/ratings", json=events[0], headers=headers)
            except httpx.HTTPError as exc:
                tally.saw(type(exc).__name__)
                tally.retries += 1
                await asyncio.sleep(0.1 + rng.random() * 0.2)
                continue
            tally.saw(str(r.status_code))
            if r.status_code in (503, 429) or r.status_code >= 500:
                tally.retries += 1
                await asyncio.sleep(
                    min(float(r.headers.get("Retry-After", "1")), 0.5) * (0.5 + rng.random())
                )
                continue
            break
        if batch and r.status_code == 200:
            for result in r.json()["results"]:
                if result["status"] in ("created", "duplicate"):
                    tally.acknowledged.add(result["event_id"])
                else:
                    tally.rejected.add(result["event_id"])
        elif not batch and r.status_code in (200, 201):
            tally.acknowledged.add(events[0]["event_id"])
        else:
            tally.rejected.update(e["event_id"] for e in events)


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--graceful-timeout", "20"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_ready(http: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/readyz")).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not become ready")
        await asyncio.sleep(0.2)


async def bootstrap(url: str) -> str:
    """A department and a portal key, straight into the database."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.auth import service as auth

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO department (code, name) VALUES ('CHAOS', '混沌测试局') "
                    "ON CONFLICT DO NOTHING"
                )
            )
            session = AsyncSession(bind=conn)
            client = await auth.create_client(session, name="chaos portal", role="portal")
            _, key = await auth.issue_key(session, client.id)
            await session.flush()
        return key
    finally:
        await engine.dispose()


async def reconcile(url: str, tally: Tally) -> dict[str, int]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT event_id, count(*) FROM rating "
                        "WHERE event_id LIKE 'chaos-%' GROUP BY event_id"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    stored = {event_id: n for event_id, n in rows}
    return {
        "acknowledged": len(tally.acknowledged),
        "stored": sum(1 for e in tally.acknowledged if e in stored),
        "duplicates": sum(n - 1 for n in stored.values()),
        "lost": sum(1 for e in tally.acknowledged if e not in stored),
        # Stored although never acknowledged: possible only if the answer was lost in transit;
        # the retry then made it acknowledged, so with retries until an answer, none remain.
        "extra": sum(1 for e in stored if e not in tally.acknowledged),
        "stored_total": len(stored),
    }


async def drain_on_sigterm(server: subprocess.Popen, http: httpx.AsyncClient, key: str) -> str:
    """Send SIGTERM with batches in flight: each must still get its answer, then the exit."""
    rng = random.Random(7)
    bodies = [{"events": [new_event(rng) for _ in range(500)]} for _ in range(6)]
    inflight = [
        asyncio.create_task(http.post("/v1/ratings/batch", json=b, headers={"X-API-Key": key}))
        for b in bodies
    ]
    await asyncio.sleep(0.05)  # the requests are on the wire
    server.send_signal(signal.SIGTERM)
    results = await asyncio.gather(*inflight, return_exceptions=True)
    code = await asyncio.to_thread(server.wait, 60)
    ok = sum(1 for r in results if isinstance(r, httpx.Response) and r.status_code == 200)
    return (
        f"SIGTERM with {len(bodies)} batches in flight: {ok} answered 200, server exit code {code}"
    )


async def run(args: argparse.Namespace) -> int:
    from app import migrate

    data_dir = Path(tempfile.mkdtemp(prefix="haochaping-chaos-"))
    postgres = await asyncio.to_thread(EmbeddedPostgres, data_dir)
    server = None
    try:
        await asyncio.to_thread(migrate.upgrade, postgres.url)
        key = await bootstrap(postgres.url)
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "HAOCHAPING_RATE_LIMITS_ENABLED": "false",
            "HAOCHAPING_LOG_LEVEL": "warning",
        }
        port = args.port
        server = start_server(env, port, data_dir / "server.log")
        limits = httpx.Limits(max_connections=args.clients * 2)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=10, limits=limits
        ) as http:
            await wait_ready(http)
            tally = Tally()
            started = time.monotonic()
            stop_at = started + args.seconds
            clients = [
                asyncio.create_task(client_loop(http, key, tally, stop_at, seed))
                for seed in range(args.clients)
            ]
            await asyncio.sleep(args.kill_at)
            acknowledged_before = len(tally.acknowledged)
            await asyncio.to_thread(postgres.kill)
            killed_at = time.monotonic() - started
            print(
                f"t={killed_at:5.1f}s SIGKILL PostgreSQL ({acknowledged_before} acknowledged)",
                flush=True,
            )
            await asyncio.sleep(args.down_for)
            await asyncio.to_thread(postgres.start)
            print(f"t={time.monotonic() - started:5.1f}s PostgreSQL restarted", flush=True)
            await asyncio.gather(*clients)
            print(
                f"t={time.monotonic() - started:5.1f}s load over: {tally.attempts} requests, "
                f"{tally.retries} retried; answers {dict(sorted(tally.statuses.items()))}",
                flush=True,
            )
            figures = await reconcile(postgres.url, tally)
            print(
                f"acknowledged {figures['acknowledged']}, stored {figures['stored']}, "
                f"duplicates {figures['duplicates']} (lost {figures['lost']}, "
                f"extra {figures['extra']}, rejected {len(tally.rejected)})",
                flush=True,
            )
            print(await drain_on_sigterm(server, http, key), flush=True)
        fine = (
            figures["stored"] == figures["acknowledged"]
            and figures["duplicates"] == 0
            and figures["lost"] == 0
            and not tally.rejected
        )
        return 0 if fine else 1
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        await asyncio.to_thread(postgres.close)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of the load")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--kill-at", type=float, default=6, help="SIGKILL PostgreSQL after")
    parser.add_argument("--down-for", type=float, default=3, help="seconds PostgreSQL stays down")
    parser.add_argument("--port", type=int, default=8765)
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
