"""Ingest benchmark: the service against two floors, on the embedded PostgreSQL.

    python bench/ingest.py [--duration 10] [--batches 60]

Starts `haochaping serve` on a fresh embedded database, and measures:
  * single-event POST /v1/ratings throughput and p50/p99 latency at 8 and 32 concurrent clients;
  * batch ingest (events/s) with 1,000-event POST /v1/ratings/batch calls;
  * floor 1: bench/minimal_app.py (FastAPI + asyncpg, one INSERT per request, no auth or checks);
  * floor 2: the same rows written straight through asyncpg copy_records_to_table.
It prints each figure and the ratios service/floor. The load generator is wrk (Debian package
`wrk`) when on PATH, else an asyncio httpx client (which costs the server CPU on a 2-core box).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WRK_SCRIPT = """
local counter = 0
prefix = "%(prefix)s-"  -- a global: setup() gives each thread its own
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("prefix", "%(prefix)s-t" .. threads .. "-")
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
request = function()
  counter = counter + 1
  local body = '{"event_id":"' .. prefix .. counter .. '","channel":"window_device",' ..
    '"department_code":"BENCH","window_no":"A01","level":' .. (5 - counter %% 2) ..
    ',"tags":["praise_attitude"],"rated_at":"%(rated_at)s"}'
  return wrk.format(nil, "%(path)s", nil, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def event(prefix: str, n: int, rated_at: str) -> dict:
    return {
        "event_id": f"{prefix}-{n}",
        "channel": "window_device",
        "department_code": "BENCH",
        "window_no": "A01",
        "level": 5 - n % 2,
        "tags": ["praise_attitude"],
        "rated_at": rated_at,
    }


def run_wrk(url: str, path: str, key: str, connections: int, duration: int, rated_at: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(
            WRK_SCRIPT
            % {"prefix": uuid.uuid4().hex[:8], "key": key, "path": path, "rated_at": rated_at}
        )
        script = f.name
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{duration}s",
            "--latency",
            "-s",
            script,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script)

    def ms(token: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", token).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


async def run_httpx(url: str, key: str, connections: int, duration: int, rated_at: str) -> dict:
    latencies: list[float] = []
    bad = 0
    prefix = uuid.uuid4().hex[:8]
    deadline = time.perf_counter() + duration
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as http:

        async def worker(w: int) -> None:
            nonlocal bad
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                t = time.perf_counter()
                r = await http.post(url, json=event(f"{prefix}-{w}", n, rated_at), headers=headers)
                latencies.append((time.perf_counter() - t) * 1000)
                bad += r.status_code >= 300

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "non_2xx": bad,
        "socket_errors": None,
    }


def single(url: str, path: str, key: str, connections: int, duration: int, rated_at: str) -> dict:
    if shutil.which("wrk"):
        return run_wrk(url, path, key, connections, duration, rated_at)
    return asyncio.run(run_httpx(url + path, key, connections, duration, rated_at))


async def batch_ingest(url: str, key: str, batches: int, concurrency: int, rated_at: str) -> dict:
    prefix = uuid.uuid4().hex[:8]
    bodies = [
        json.dumps({"events": [event(f"{prefix}-{b}", n, rated_at) for n in range(1000)]})
        for b in range(batches)
    ]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    created = 0
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=60) as http:

        async def worker() -> None:
            nonlocal created
            while not queue.empty():
                body = queue.get_nowait()
                r = await http.post(url + "/v1/ratings/batch", content=body, headers=headers)
                r.raise_for_status()
                created += r.json()["created"]

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"events_per_s": created / elapsed, "created": created, "seconds": elapsed}


async def copy_floor(dsn: str, client_id: uuid.UUID, rows: int, rated_at: str) -> dict:
    conn = await asyncpg.connect(dsn)
    try:
        stamp = datetime.fromisoformat(rated_at)
        prefix = uuid.uuid4().hex[:8]
        records = [
            (
                client_id,
                f"{prefix}-{n}",
                uuid.uuid4().bytes * 2,
                "window_device",
                "BENCH",
                "A01",
                5 - n % 2,
                ["praise_attitude"],
                "anonymous",
                stamp,
                1,
            )
            for n in range(rows)
        ]
        columns = [
            "client_id",
            "event_id",
            "payload_hash",
            "channel",
            "department_code",
            "window_no",
            "level",
            "tags",
            "rater_type",
            "rated_at",
            "assess_number",
        ]
        start = time.perf_counter()
        for i in range(0, rows, 1000):
            await conn.copy_records_to_table(
                "rating", records=records[i : i + 1000], columns=columns
            )
        elapsed = time.perf_counter() - start
    finally:
        await conn.close()
    return {"events_per_s": rows / elapsed, "rows": rows, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per single-event run")
    parser.add_argument("--batches", type=int, default=60, help="1,000-event batches to post")
    parser.add_argument("--workers", type=int, default=1, help="server processes (both apps)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()

    from app.db import start_embedded_postgres

    data_dir = Path(tempfile.mkdtemp(prefix="haochaping-bench-"))
    dsn_sa = start_embedded_postgres(data_dir)
    dsn = dsn_sa.replace("postgresql+asyncpg://", "postgresql://")
    env = {
        **os.environ,
        "DATABASE_URL": dsn_sa,
        "HAOCHAPING_LOG_LEVEL": "warning",
        # The benchmark measures throughput, not the per-client limits.
        "HAOCHAPING_RATE_LIMITS_ENABLED": "false",
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    procs = [server]
    try:
        admin_key = None
        deadline = time.time() + 60
        while admin_key is None and time.time() < deadline:
            line = server.stdout.readline()
            if line.strip().startswith("hcp_"):
                admin_key = line.strip()
        if admin_key is None:
            raise RuntimeError("no bootstrap admin key printed")
        threading_drain(server)
        wait_http(base + "/readyz")
        admin = {"Authorization": f"Bearer {admin_key}"}
        httpx.put(base + "/v1/departments/BENCH", json={"name": "基准测试局"}, headers=admin)
        httpx.put(
            base + "/v1/departments/BENCH/windows/A01", json={"name": "一号窗口"}, headers=admin
        )
        portal = httpx.post(
            base + "/v1/keys", json={"role": "portal", "client_name": "bench"}, headers=admin
        ).json()
        key, client_id = portal["key"], uuid.UUID(portal["client_id"])
        rated_at = datetime.now(UTC).replace(microsecond=0).isoformat()

        results: dict[str, dict] = {}
        for c in (8, 32):
            results[f"service_single_c{c}"] = single(
                base, "/v1/ratings", key, c, args.duration, rated_at
            )
        results["service_batch"] = asyncio.run(batch_ingest(base, key, args.batches, 2, rated_at))
        server.send_signal(signal.SIGTERM)
        server.wait(30)

        mport = free_port()
        minimal = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.minimal_app:app",
                "--port",
                str(mport),
                "--workers",
                str(args.workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env={**env, "BENCH_DATABASE_URL": dsn, "BENCH_CLIENT_ID": str(client_id)},
        )
        procs.append(minimal)
        wait_http(f"http://127.0.0.1:{mport}/docs")
        for c in (8, 32):
            results[f"minimal_single_c{c}"] = single(
                f"http://127.0.0.1:{mport}", "/ratings", "none", c, args.duration, rated_at
            )
        minimal.send_signal(signal.SIGTERM)
        minimal.wait(30)
        results["copy_floor"] = asyncio.run(
            copy_floor(dsn, client_id, args.batches * 1000, rated_at)
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)

    gen = "wrk" if shutil.which("wrk") else "httpx"
    print(f"\nload generator: {gen}; {os.cpu_count()} cores; server workers: {args.workers}")
    for c in (8, 32):
        s, m = results[f"service_single_c{c}"], results[f"minimal_single_c{c}"]
        print(
            f"single POST, {c:>2} clients: service {s['rps']:8.0f} req/s  p50 {s['p50_ms']:6.2f} ms"
            f"  p99 {s['p99_ms']:6.2f} ms  (non-2xx {s['non_2xx']})"
        )
        print(
            f"                     minimal {m['rps']:8.0f} req/s  p50 {m['p50_ms']:6.2f} ms"
            f"  p99 {m['p99_ms']:6.2f} ms  (non-2xx {m['non_2xx']})"
        )
        print(f"                     ratio service/minimal: {s['rps'] / m['rps']:.2f}")
    b, f = results["service_batch"], results["copy_floor"]
    print(
        f"batch ingest (1,000/batch): service {b['events_per_s']:8.0f} events/s"
        f"  COPY floor {f['events_per_s']:8.0f} events/s"
        f"  ratio {b['events_per_s'] / f['events_per_s']:.2f}"
    )
    print(json.dumps(results, indent=2))


def threading_drain(proc: subprocess.Popen) -> None:
    """Keep reading the server's output so that its pipe never fills."""
    import threading

    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()


if __name__ == "__main__":
    main()
