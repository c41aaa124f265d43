"""Ingest benchmark: the service against two floors, on the embedded PostgreSQL.

    python bench/ingest.py [--duration 10] [--batches 60] [--push-target unreachable]

Starts `haochaping serve` on a fresh embedded database, and measures:
  * single-event POST /v1/ratings throughput and p50/p99 latency at 8 and 32 concurrent clients;
  * batch ingest (events/s) with 1,000-event POST /v1/ratings/batch calls;
  * floor 1: bench/minimal_app.py (FastAPI + asyncpg, one INSERT per request, no auth or checks);
  * floor 2: the same rows written straight through asyncpg copy_records_to_table.
The events are an online portal's (channel pc, no window), one department, levels 5 and 4 in
turn; `--window` rates window A01 through its tablet instead, where the integrity rules flag
nearly every event as an identical burst (a worst case for the service's flag probes).
`--traffic spread` sends ordinary traffic instead, which trips none of the integrity rules: eight
portal keys in turn (request by request with wrk, batch by batch in the batch client), 40
departments (BENCH00..BENCH39), levels 5, 4 and 3 in a realistic mix (about 80/15/5%; no 差评,
which take the generic route with work orders) and `rated_at` spread over the last hour, in
batches of 200 events (as many events in all as --batches of 1,000). The
default (`--traffic same`) keeps the figures comparable with the README's: one portal key, one
department, levels 5 and 4 in turn, no comment and one `rated_at`, which is the stuffing
pattern itself (nearly every event gets the bare_burst and source_share flags: the worst case
for their probes and for the flagged partial index).
Each single-event measurement follows a 2-second warm-up at the same concurrency (both apps).
It prints each figure and the ratios service/floor. The load generator is wrk (Debian package
`wrk`) when on PATH, else an asyncio httpx client (which costs the server CPU on a 2-core box).

`--aggregates on|off|both` (default both): the service with the statistics aggregates as they
run in production ("on": the statement trigger stats_assign_xact_id on `rating` and the
roll-up loop folding the new ratings every 2 s during the load) and without them ("off": the
trigger dropped in that run's own database, HAOCHAPING_STATS_ROLLUP_ENABLED=false). Each mode
gets a fresh database; with both, the modes alternate for --rounds rounds and the median of
each figure is reported, with the slowdown of "on" against "off", and the CPU time of the
server and PostgreSQL per event in each mode (steadier than throughput on a shared machine).
The floors are measured in every round right after the service, on its last database, and
each ratio is the median of the rounds' own ratios (service over the floor of the same round).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
from datetime import UTC, datetime, timedelta
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
  local body = '{"event_id":"' .. prefix .. counter .. '",%(place)s' ..
    '"department_code":"BENCH","level":' .. (5 - counter %% 2) ..
    ',"tags":["praise_attitude"],"rated_at":"%(rated_at)s"}'
  return wrk.format(nil, "%(path)s", nil, body)
end
"""

# --traffic spread: keys in turn, 40 departments, levels 5/4/3, rated_at over the last hour.
WRK_SPREAD_SCRIPT = """
local counter = 0
prefix = "%(prefix)s-"
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("prefix", "%(prefix)s-t" .. threads .. "-")
  thread:set("seed", threads)
end
local keys = {%(keys)s}
local levels = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 3}
local now = %(now)d
init = function(args)
  math.randomseed(seed or 1)
end
request = function()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json",
                   ["Authorization"] = "Bearer " .. keys[counter %% #keys + 1]}
  local body = '{"event_id":"' .. prefix .. counter .. '",%(place)s' ..
    '"department_code":"' .. string.format("BENCH%%02d", math.random(0, 39)) ..
    '","level":' .. levels[math.random(1, #levels)] ..
    ',"tags":["praise_attitude"],"rated_at":"' ..
    os.date("!%%Y-%%m-%%dT%%H:%%M:%%S+00:00", now - math.random(0, 3599)) .. '"}'
  return wrk.format("POST", "%(path)s", headers, body)
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


# What each event is rated through: by default an online portal's (channel pc, no window);
# with --window, window A01's tablet (then every event after the second is the third identical
# rating at one window within 2 minutes, so the service probes and sets the identical_burst
# integrity flag on nearly all: a worst case, since the burst rule reads only windowed or
# commented ratings).
PLACE = {"channel": "pc", "window_no": None}
WINDOW_PLACE = {"channel": "window_device", "window_no": "A01"}
# --traffic spread: the service's portal keys, used in turn (empty: one key, the default).
SPREAD_KEYS: list[str] = []
SPREAD_DEPARTMENTS = [f"BENCH{i:02d}" for i in range(40)]
SPREAD_LEVELS = [5] * 16 + [4] * 3 + [3]  # about 80/15/5%; no 差评 (levels 1 and 2)
SPREAD_BATCH = 200


def event(prefix: str, n: int, rated_at: str) -> dict:
    body = {
        "event_id": f"{prefix}-{n}",
        "channel": PLACE["channel"],
        "department_code": "BENCH",
        "level": 5 - n % 2,
        "tags": ["praise_attitude"],
        "rated_at": rated_at,
    }
    if PLACE["window_no"]:
        body["window_no"] = PLACE["window_no"]
    if SPREAD_KEYS:  # ordinary traffic: trips none of the integrity rules
        rng = random.Random(f"{prefix}-{n}")
        body["department_code"] = rng.choice(SPREAD_DEPARTMENTS)
        body["level"] = rng.choice(SPREAD_LEVELS)
        stamp = datetime.fromisoformat(rated_at) - timedelta(seconds=rng.randrange(3600))
        body["rated_at"] = stamp.isoformat()
    return body


def _place_json() -> str:
    place = f'"channel":"{PLACE["channel"]}",'
    if PLACE["window_no"]:
        place += f'"window_no":"{PLACE["window_no"]}",'
    return place


def run_wrk(url: str, path: str, key: str, connections: int, duration: int, rated_at: str) -> dict:
    spread = SPREAD_KEYS and path == "/v1/ratings"  # the floor's minimal app: as by default
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(
            (WRK_SPREAD_SCRIPT if spread else WRK_SCRIPT)
            % {
                "prefix": uuid.uuid4().hex[:8],
                "key": key,
                "keys": ", ".join(f'"{k}"' for k in SPREAD_KEYS),
                "now": int(datetime.fromisoformat(rated_at).timestamp()),
                "path": path,
                "rated_at": rated_at,
                "place": _place_json(),
            }
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
    keys = SPREAD_KEYS if SPREAD_KEYS and key != "none" else [key]
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as http:

        async def worker(w: int) -> None:
            nonlocal bad
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                t = time.perf_counter()
                headers = {"Authorization": f"Bearer {keys[(w + n) % len(keys)]}"}
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


# Seconds of the same load, unmeasured, before each single-event measurement (both apps): the
# first requests open the pools' connections and prepare their statements.
WARMUP_SECONDS = 2


def single(url: str, path: str, key: str, connections: int, duration: int, rated_at: str) -> dict:
    if shutil.which("wrk"):
        return run_wrk(url, path, key, connections, duration, rated_at)
    return asyncio.run(run_httpx(url + path, key, connections, duration, rated_at))


def warm_up(url: str, path: str, key: str, connections: int, rated_at: str) -> None:
    single(url, path, key, connections, WARMUP_SECONDS, rated_at)


async def batch_ingest(url: str, key: str, batches: int, concurrency: int, rated_at: str) -> dict:
    prefix = uuid.uuid4().hex[:8]
    # Spread: 200 events a request (about 5 a department). A 1,000-event request would hold 25
    # of each department, which source_share takes as that department's latest ratings: a
    # source swamping it (flagged); ordinary traffic trips nothing.
    size = SPREAD_BATCH if SPREAD_KEYS else 1000
    bodies = [
        json.dumps({"events": [event(f"{prefix}-{b}", n, rated_at) for n in range(size)]})
        for b in range(batches * 1000 // size)
    ]
    keys = SPREAD_KEYS or [key]  # spread: the keys in turn, batch by batch
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for b, body in enumerate(bodies):
        queue.put_nowait((keys[b % len(keys)], body))
    created = 0
    async with httpx.AsyncClient(timeout=60) as http:

        async def worker() -> None:
            nonlocal created
            while not queue.empty():
                sender, body = queue.get_nowait()
                headers = {"Authorization": f"Bearer {sender}", "Content-Type": "application/json"}
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
                PLACE["channel"],
                "BENCH",
                PLACE["window_no"],
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


MODES = {"both": ("off", "on"), "on": ("on",), "off": ("off",)}
SERVICE_FIGURES = ("service_single_c8", "service_single_c32", "service_batch")


def _proc_times(pid: int) -> tuple[int, int, int]:
    """(ppid, own CPU ticks, CPU ticks of reaped children) from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def cpu_seconds(roots: list[int]) -> float:
    """CPU time used so far by these processes and their children, live or exited (Linux).

    An exited backend's time moves into its parent's reaped-children figure, so the sum is
    cumulative. Less sensitive than throughput to other work on a shared machine."""
    ticks, parents = 0, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = _proc_times(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    wanted = set(roots)
    changed = True
    while changed:  # descendants
        changed = False
        for pid, (ppid, _, _) in parents.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        if pid in parents:
            _, own, reaped = parents[pid]
            ticks += own + reaped
    return ticks / os.sysconf("SC_CLK_TCK")


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])


def drop_stats_trigger(dsn: str) -> None:
    """Aggregates off: no statement trigger on `rating` in this database."""

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("DROP TRIGGER IF EXISTS stats_assign_xact_id ON rating")
        finally:
            await conn.close()

    asyncio.run(run())


def start_server(data_dir: Path, database: str, env: dict, workers: int):
    """`haochaping serve` on its own database; (process, base URL, admin key, dsn)."""
    from app.db import start_embedded_postgres

    dsn_sa = start_embedded_postgres(data_dir, database=database)
    service_dir = data_dir / f"service-{database}"
    service_dir.mkdir(parents=True, exist_ok=True)
    env = {**env, "HAOCHAPING_DATA_DIR": str(service_dir)}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env={**env, "DATABASE_URL": dsn_sa},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed = threading_drain(server)
    # Not on a terminal, serve writes its bootstrap key to a file of its data directory (never
    # into the log stream); the service's data directory is the bench's. An older serve printed
    # it on stdout: a line starting with hcp_ is taken too (to bench an older commit).
    key_file = Path(env["HAOCHAPING_DATA_DIR"]) / "bootstrap-admin-key"
    admin_key = None
    deadline = time.time() + 60
    while admin_key is None and time.time() < deadline:
        if printed:
            admin_key = printed[0]
            break
        if key_file.exists() and key_file.read_text().strip():
            admin_key = key_file.read_text().strip()
            key_file.unlink()
            break
        if server.poll() is not None:
            break
        time.sleep(0.1)
    if admin_key is None:
        server.kill()
        raise RuntimeError(f"no bootstrap admin key in {key_file}")
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/readyz")
    return server, base, admin_key, dsn_sa


def measure_service(
    data_dir: Path, database: str, mode: str, env: dict, args: argparse.Namespace, procs: list
) -> tuple[dict, str, uuid.UUID, str]:
    """Single-event and batch ingest against a fresh database with the aggregates on or off."""
    env = {**env, "HAOCHAPING_STATS_ROLLUP_ENABLED": "true" if mode == "on" else "false"}
    server, base, admin_key, dsn_sa = start_server(data_dir, database, env, args.workers)
    procs.append(server)
    dsn = dsn_sa.replace("postgresql+asyncpg://", "postgresql://")
    if mode == "off":
        drop_stats_trigger(dsn)
    admin = {"Authorization": f"Bearer {admin_key}"}
    httpx.put(base + "/v1/departments/BENCH", json={"name": "基准测试局"}, headers=admin)
    httpx.put(base + "/v1/departments/BENCH/windows/A01", json={"name": "一号窗口"}, headers=admin)
    if PLACE["window_no"]:
        # Only a tablet posts channel window_device: window A01's, posting with its bare key.
        sender = httpx.post(
            base + "/v1/devices",
            json={"serial_no": "BENCH-A01", "department_code": "BENCH", "window_no": "A01"},
            headers=admin,
        ).json()
        httpx.patch(
            base + f"/v1/clients/{sender['client_id']}",
            json={"require_signature": False},
            headers=admin,
        ).raise_for_status()
    else:
        sender = httpx.post(
            base + "/v1/keys", json={"role": "portal", "client_name": "bench"}, headers=admin
        ).json()
    key, client_id = sender["key"], uuid.UUID(sender["client_id"])
    if args.traffic == "spread":
        for code in SPREAD_DEPARTMENTS:
            httpx.put(
                base + f"/v1/departments/{code}", json={"name": f"基准测试{code}"}, headers=admin
            ).raise_for_status()
        SPREAD_KEYS[:] = [key] + [
            httpx.post(
                base + "/v1/keys",
                json={"role": "portal", "client_name": f"bench-{i}"},
                headers=admin,
            ).json()["key"]
            for i in range(1, 8)
        ]
    if args.push_target == "unreachable":
        # A provincial platform that is down: nothing listens on the port (connection refused).
        httpx.post(
            base + "/v1/provincial/targets",
            json={
                "name": "bench (down)",
                "url": f"http://127.0.0.1:{free_port()}/report",
                "profile": "generic",
                "events": ["ratings", "rectifications"],
            },
            headers=admin,
        ).raise_for_status()
    rated_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    results: dict[str, dict] = {}
    roots = [server.pid, postmaster_pid(data_dir)]
    for c in (8, 32):
        warm_up(base, "/v1/ratings", key, c, rated_at)
        cpu, server_cpu = cpu_seconds(roots), cpu_seconds(roots[:1])
        results[f"service_single_c{c}"] = figures = single(
            base, "/v1/ratings", key, c, args.duration, rated_at
        )
        used, cpu = cpu_seconds(roots) - cpu, cpu_seconds(roots)
        server_used, server_cpu = cpu_seconds(roots[:1]) - server_cpu, cpu_seconds(roots[:1])
        # server and PostgreSQL CPU per request (wrk's own CPU not included)
        requests = max(figures["rps"] * args.duration, 1)
        figures["cpu_ms_per_event"] = 1000 * used / requests
        figures["server_cpu_ms_per_event"] = 1000 * server_used / requests
    results["service_batch"] = figures = asyncio.run(
        batch_ingest(base, key, args.batches, 2, rated_at)
    )
    figures["cpu_ms_per_event"] = 1000 * (cpu_seconds(roots) - cpu) / max(figures["created"], 1)
    figures["server_cpu_ms_per_event"] = (
        1000 * (cpu_seconds(roots[:1]) - server_cpu) / max(figures["created"], 1)
    )
    if args.metrics:
        # How the single-event POSTs were answered: directly, or handed over (and why).
        text = httpx.get(base + "/metrics", headers=admin).text
        lines = [line for line in text.splitlines() if line.startswith(args.metrics)]
        results["metrics"] = {"lines": lines}
        print("\n".join(f"  {line}" for line in lines) or f"  no {args.metrics} on /metrics")
    server.send_signal(signal.SIGTERM)
    server.wait(30)
    return results, dsn, client_id, rated_at


FLOOR_FIGURES = ("minimal_single_c8", "minimal_single_c32", "copy_floor")


def measure_floors(
    dsn: str, client_id: uuid.UUID, rated_at: str, env: dict, args: argparse.Namespace, procs
) -> dict:
    """The minimal app at 8 and 32 clients, and the COPY floor, on the service's database."""
    results: dict[str, dict] = {}
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
        warm_up(f"http://127.0.0.1:{mport}", "/ratings", "none", c, rated_at)
        results[f"minimal_single_c{c}"] = single(
            f"http://127.0.0.1:{mport}", "/ratings", "none", c, args.duration, rated_at
        )
    minimal.send_signal(signal.SIGTERM)
    minimal.wait(30)
    results["copy_floor"] = asyncio.run(copy_floor(dsn, client_id, args.batches * 1000, rated_at))
    return results


def median_run(runs: list[dict]) -> dict:
    """Each figure's median over the rounds of one mode."""
    out = {}
    for name in SERVICE_FIGURES:
        figures = [run[name] for run in runs]
        out[name] = {
            k: statistics.median(f[k] for f in figures)
            if isinstance(figures[0][k], (int, float)) and not isinstance(figures[0][k], bool)
            else figures[-1][k]
            for k in figures[0]
        }
        out[name]["runs"] = len(figures)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per single-event run")
    parser.add_argument("--batches", type=int, default=60, help="1,000-event batches to post")
    parser.add_argument("--workers", type=int, default=1, help="server processes (both apps)")
    parser.add_argument(
        "--aggregates",
        choices=tuple(MODES),
        default="both",
        help="statistics trigger and roll-up loop on, off, or both in turn (default both)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each aggregates mode, alternating"
    )
    parser.add_argument(
        "--window",
        action="store_true",
        help="rate window A01 through its tablet's channel instead of an online portal "
        "(every event then trips the identical_burst integrity flag: a worst case)",
    )
    parser.add_argument(
        "--traffic",
        choices=("same", "spread"),
        default="same",
        help="same (default): one key, one department, one rated_at, levels 5 and 4 (the "
        "stuffing pattern); spread: ordinary traffic that trips no integrity rule",
    )
    parser.add_argument(
        "--push-target",
        choices=("none", "unreachable"),
        default="none",
        help="unreachable: a provincial push target whose platform is down is configured "
        "(its feeder and sender run every second, with no lag, during the load)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument(
        "--floors",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the minimal app and COPY floors in every round (--no-floors: the "
        "service's own figures only, e.g. to compare two commits by CPU per event)",
    )
    parser.add_argument(
        "--metrics",
        nargs="?",
        const="haochaping_single_ingest_total",
        default=None,
        metavar="PREFIX",
        help="after each service run, print the /metrics lines starting with PREFIX (default "
        "haochaping_single_ingest_total: single-event POSTs answered directly or handed over)",
    )
    args = parser.parse_args()
    if args.window:
        PLACE.update(WINDOW_PLACE)
    if args.window and args.traffic == "spread":
        parser.error("--traffic spread posts through portal keys, not a window's tablet")

    data_dir = Path(tempfile.mkdtemp(prefix="haochaping-bench-"))
    env = {
        **os.environ,
        "HAOCHAPING_LOG_LEVEL": "warning",
        # The benchmark measures throughput, not the per-client limits.
        "HAOCHAPING_RATE_LIMITS_ENABLED": "false",
        # The provincial push as busy as it gets (it only works when a target is configured).
        "HAOCHAPING_PROVINCIAL_PUSH_INTERVAL_SECONDS": "1",
        "HAOCHAPING_PROVINCIAL_PUSH_LAG_SECONDS": "0",
    }
    modes = MODES[args.aggregates]
    procs: list[subprocess.Popen] = []
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    floor_runs: list[dict] = []
    try:
        for round_no in range(max(args.rounds, 1)):
            for mode in modes:
                print(f"service, aggregates {mode} (round {round_no + 1}) ...", flush=True)
                figures, dsn, client_id, rated_at = measure_service(
                    data_dir, f"haochaping_bench_{mode}_{round_no}", mode, env, args, procs
                )
                runs[mode].append(figures)
            # The floors in every round, right after the service, on its last database: each
            # ratio compares runs made minutes apart, not a whole benchmark apart.
            if args.floors:
                print(f"floors (round {round_no + 1}) ...", flush=True)
                floor_runs.append(measure_floors(dsn, client_id, rated_at, env, args, procs))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if args.keep:
            print(f"data directory kept: {data_dir}", flush=True)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    by_mode = {mode: median_run(mode_runs) for mode, mode_runs in runs.items()}
    # the service figures printed below are those of the production setting when measured
    production = "on" if "on" in by_mode else modes[0]
    results: dict[str, dict] = dict(by_mode[production])
    ratios: dict[str, float] = {}
    if floor_runs:
        for name in FLOOR_FIGURES:
            results[name] = {
                k: statistics.median(run[name][k] for run in floor_runs)
                for k in floor_runs[0][name]
                if isinstance(floor_runs[0][name][k], (int, float))
            }
        # each round's service figure over the same round's floor; the median of those
        ratios |= {
            f"single_c{c}": statistics.median(
                s[f"service_single_c{c}"]["rps"] / f[f"minimal_single_c{c}"]["rps"]
                for s, f in zip(runs[production], floor_runs, strict=True)
            )
            for c in (8, 32)
        }
        ratios["batch"] = statistics.median(
            s["service_batch"]["events_per_s"] / f["copy_floor"]["events_per_s"]
            for s, f in zip(runs[production], floor_runs, strict=True)
        )
        results["ratios"] = ratios

    gen = "wrk" if shutil.which("wrk") else "httpx"
    print(f"\nload generator: {gen}; {os.cpu_count()} cores; server workers: {args.workers}")
    print(f"provincial push target: {args.push_target}")
    where = "window A01 (identical_burst flagged)" if args.window else "online portal, no window"
    if args.traffic == "spread":
        print("events: spread (8 portal keys, 40 departments, levels 5/4/3, last hour)")
    else:
        print(f"events: one department, {where}, levels 5 and 4 in turn")
    for c in (8, 32):
        s = results[f"service_single_c{c}"]
        print(
            f"single POST, {c:>2} clients: service {s['rps']:8.0f} req/s  p50 {s['p50_ms']:6.2f} ms"
            f"  p99 {s['p99_ms']:6.2f} ms  (non-2xx {s['non_2xx']})"
        )
        if floor_runs:
            m = results[f"minimal_single_c{c}"]
            print(
                f"                     minimal {m['rps']:8.0f} req/s  p50 {m['p50_ms']:6.2f} ms"
                f"  p99 {m['p99_ms']:6.2f} ms  (non-2xx {m['non_2xx']})"
            )
            print(f"                     ratio service/minimal: {ratios[f'single_c{c}']:.2f}")
    b = results["service_batch"]
    print(f"batch ingest (1,000/batch): service {b['events_per_s']:8.0f} events/s", end="")
    if floor_runs:
        f = results["copy_floor"]
        print(f"  COPY floor {f['events_per_s']:8.0f} events/s", end="")
        print(f"  ratio {ratios['batch']:.2f}", end="")
    print()

    rounds = f"median of {max(args.rounds, 1)} run(s) each" if args.rounds > 1 else "one run each"
    print(f"\nstatistics aggregates ({rounds}; the service lines above: aggregates {modes[-1]}):")
    for mode, figures in by_mode.items():
        print(
            f"aggregates {mode:<3}: single c8 {figures['service_single_c8']['rps']:8.0f} req/s"
            f"  c32 {figures['service_single_c32']['rps']:8.0f} req/s"
            f"  batch {figures['service_batch']['events_per_s']:8.0f} events/s"
            f"   CPU ms/event (server + PostgreSQL):"
            f" c8 {figures['service_single_c8']['cpu_ms_per_event']:.2f}"
            f"  c32 {figures['service_single_c32']['cpu_ms_per_event']:.2f}"
            f"  batch {figures['service_batch']['cpu_ms_per_event']:.3f}"
        )
        print(
            "                of which the server's (the rest PostgreSQL's):"
            f" c8 {figures['service_single_c8']['server_cpu_ms_per_event']:.2f}"
            f"  c32 {figures['service_single_c32']['server_cpu_ms_per_event']:.2f}"
            f"  batch {figures['service_batch']['server_cpu_ms_per_event']:.3f}"
        )
    aggregates: dict = {"modes": by_mode, "runs": runs}
    if "on" in by_mode and "off" in by_mode:
        on, off = by_mode["on"], by_mode["off"]
        slowdown = {
            "single_c8": 100
            * (1 - on["service_single_c8"]["rps"] / off["service_single_c8"]["rps"]),
            "single_c32": 100
            * (1 - on["service_single_c32"]["rps"] / off["service_single_c32"]["rps"]),
            "batch": 100
            * (1 - on["service_batch"]["events_per_s"] / off["service_batch"]["events_per_s"]),
        }
        aggregates["slowdown_pct"] = slowdown
        print(
            "slowdown with aggregates on: "
            + "  ".join(f"{name} {value:+.1f}%" for name, value in slowdown.items())
            + "  (target: at most 20%)"
        )
        cpu_cost = {
            name: 100 * (on[figure]["cpu_ms_per_event"] / off[figure]["cpu_ms_per_event"] - 1)
            for name, figure in (
                ("single_c8", "service_single_c8"),
                ("single_c32", "service_single_c32"),
                ("batch", "service_batch"),
            )
        }
        aggregates["cpu_per_event_extra_pct"] = cpu_cost
        print(
            "CPU per event with aggregates on: "
            + "  ".join(f"{name} {value:+.1f}%" for name, value in cpu_cost.items())
        )
    results["aggregates"] = aggregates
    print(json.dumps(results, indent=2))


def threading_drain(proc: subprocess.Popen) -> list[str]:
    """Keep reading the server's output so that its pipe never fills; the list returned
    gathers the lines that look like a key (an older serve printed its bootstrap key)."""
    import threading

    keys: list[str] = []

    def drain() -> None:
        for line in proc.stdout:
            if line.strip().startswith("hcp_"):
                keys.append(line.strip())

    threading.Thread(target=drain, daemon=True).start()
    return keys


if __name__ == "__main__":
    main()
