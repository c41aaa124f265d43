"""`haochaping serve` as a real process on the embedded PostgreSQL: whatever stops the service
(SIGINT, SIGTERM, SIGHUP, a failed start-up) stops its PostgreSQL; the exit never hangs when the
database is already gone; a start after a killed run cleans up after it. And the bootstrap admin
key: to a terminal, or to an owner-only file, never into the logs.

The lifecycle tests share one data directory, initialised once (initdb is the slow part) by a
`haochaping migrate`, which must itself leave no server behind."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.cli import BOOTSTRAP_KEY_FILE

STOP_SECONDS = 15  # a clean stop takes 1–3 s here; the old hang lasted until SIGKILL
READY_SECONDS = 90


def kill_all(pids) -> None:
    """SIGKILL each; one that has already gone (a backend whose client was just killed exits
    on its own, an autovacuum worker finishes) is what was wanted."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HAOCHAPING_") and k != "DATABASE_URL"
    }
    return {**env, "HAOCHAPING_DATA_DIR": str(data_dir), **extra}


def haochaping(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


class Service:
    """One `haochaping serve` process in its own session (signals to its group reach it alone)."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None, stderr=None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = Path(tempfile.mkstemp(prefix="haochaping-serve-", suffix=".log")[1])
        self._out = self.logs.open("wb")
        self.process = subprocess.Popen(
            haochaping("serve", "--port", str(self.port), *args),
            env=env or service_env(data_dir),
            cwd=data_dir,  # no developer's .env
            stdout=self._out,
            stderr=self._out if stderr is None else stderr,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.process.kill()
        pytest.fail(f"serve not ready in {READY_SECONDS} s:\n{self.output()}")

    def wait_exit(self, seconds: float = STOP_SECONDS) -> float:
        """Seconds until the process exited; fails (and kills it) past `seconds`."""
        started = time.monotonic()
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"serve still running {seconds} s after the signal:\n{self.output()}")
        return time.monotonic() - started

    def output(self) -> str:
        self._out.flush()
        return self.logs.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()
        self.logs.unlink(missing_ok=True)


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def live(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def postmasters_of(pgdata: Path) -> list[int]:
    """Live postgres servers whose command line names this pgdata (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and argv[0].endswith(b"/postgres") and str(pgdata).encode() in argv:
            found.append(int(entry.name))
    return found


def postgres_family(pgdata: Path) -> list[int]:
    """The running postmaster and its children (backends, checkpointer, ...)."""
    pid = postmaster_pid(pgdata)
    assert pid is not None and live(pid), "no PostgreSQL running"
    return [pid, *(child.pid for child in psutil.Process(pid).children())]


def handle_pids(pgdata: Path) -> list[int]:
    path = pgdata / ".handle_pids.json"
    return json.loads(path.read_text()) if path.exists() else []


def assert_no_postgres_left(pgdata: Path, family: list[int]) -> None:
    deadline = time.monotonic() + 5  # backends of a killed postmaster go on their own
    while any(live(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in family if live(pid)] == []
    assert postmasters_of(pgdata) == []
    assert not (pgdata / "postmaster.pid").exists()
    assert handle_pids(pgdata) == []


@pytest.fixture(scope="module")
def data_dir():
    """A data directory whose database is initialised and migrated, its server stopped."""
    directory = Path(tempfile.mkdtemp(prefix="haochaping-lifecycle-"))
    done = subprocess.run(
        haochaping("migrate"),
        env=service_env(directory),
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    yield directory
    left = postmasters_of(directory / "pgdata")  # only if a test failed half-way
    kill_all(left)
    deadline = time.monotonic() + 10
    while any(live(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def service(data_dir):
    started: list[Service] = []

    def start(*args: str) -> Service:
        started.append(Service(data_dir, *args))
        return started[-1]

    yield start
    for one in started:
        one.close()


def test_a_one_shot_command_leaves_no_server(data_dir):
    """`haochaping migrate` (the fixture) started the embedded server and stopped it."""
    assert postmasters_of(data_dir / "pgdata") == []
    assert handle_pids(data_dir / "pgdata") == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_service_and_its_postgres(data_dir, service, sig):
    pgdata = data_dir / "pgdata"
    serve = service()
    serve.wait_ready()
    family = postgres_family(pgdata)
    assert handle_pids(pgdata) == [serve.process.pid]
    serve.process.send_signal(sig)
    serve.wait_exit()
    assert serve.process.returncode == 0, serve.output()
    assert_no_postgres_left(pgdata, family)
    assert "stopped on" in serve.output()


def test_sighup_to_the_group_stops_every_worker_and_postgres(data_dir, service):
    """A closed terminal sends SIGHUP to the whole process group: the supervisor stops its
    workers (uvicorn alone would replace them) and then PostgreSQL."""
    pgdata = data_dir / "pgdata"
    serve = service("--workers", "2")
    serve.wait_ready()
    family = postgres_family(pgdata)
    workers = [child.pid for child in psutil.Process(serve.process.pid).children(recursive=True)]
    assert len(workers) >= 2
    os.killpg(serve.process.pid, signal.SIGHUP)
    serve.wait_exit()
    assert serve.process.returncode == 0, serve.output()
    assert [pid for pid in workers if live(pid)] == []
    assert_no_postgres_left(pgdata, family)


def test_sigterm_exits_promptly_when_postgres_was_killed(data_dir, service):
    pgdata = data_dir / "pgdata"
    serve = service()
    serve.wait_ready()
    family = postgres_family(pgdata)
    kill_all(family)
    deadline = time.monotonic() + 5
    while any(live(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    serve.process.send_signal(signal.SIGTERM)
    took = serve.wait_exit()
    assert took < 5, serve.output()
    assert serve.process.returncode == 0, serve.output()
    assert postmasters_of(pgdata) == []


def _can_be_pid_1() -> bool:
    try:
        return (
            subprocess.run(["unshare", "-fpm", "--mount-proc", "true"], timeout=10).returncode == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _can_be_pid_1(), reason="needs unshare and the right to make namespaces")
def test_as_pid_1_sigterm_exits_promptly_when_postgres_was_killed(data_dir, tmp_path):
    """In a container the service is PID 1: the killed postmaster becomes its child, a zombie
    until reaped, and the kernel ignores a signal's default action there. The old exit waited a
    minute in `pg_ctl -w stop` for that zombie, until the container was SIGKILLed."""
    pgdata = data_dir / "pgdata"
    port = free_port()
    wrapper = subprocess.Popen(
        ["unshare", "-fpm", "--mount-proc", *haochaping("serve", "--port", str(port))],
        env=service_env(data_dir),
        cwd=data_dir,
        stdout=(tmp_path / "serve.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            assert wrapper.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        (serve,) = psutil.Process(wrapper.pid).children()  # PID 1 of its namespace
        (postmaster,) = postmasters_of(pgdata)
        family = [postmaster, *(child.pid for child in psutil.Process(postmaster).children())]
        kill_all(family)
        time.sleep(0.5)
        assert psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE  # nobody reaps it
        serve.send_signal(signal.SIGTERM)
        started = time.monotonic()
        wrapper.wait(STOP_SECONDS)
        assert time.monotonic() - started < 5
        assert wrapper.returncode == 0, (tmp_path / "serve.log").read_text()
        assert postmasters_of(pgdata) == []
    finally:
        if wrapper.poll() is None:
            for child in psutil.Process(wrapper.pid).children():
                child.kill()  # the namespace's PID 1: everything in it dies
            wrapper.kill()
            wrapper.wait()


def test_a_start_after_a_killed_run_cleans_up(data_dir, service):
    """The service and its PostgreSQL SIGKILLed: a dead pid stays in the handle list, and the
    postmaster.pid names a dead process; here it even names a live one that is not PostgreSQL
    (a pid reused after a reboot). The next start takes over, and a stop stops it."""
    pgdata = data_dir / "pgdata"
    killed = service()
    killed.wait_ready()
    family = postgres_family(pgdata)
    killed.process.kill()
    kill_all(family)
    killed.process.wait()
    assert handle_pids(pgdata) == [killed.process.pid]
    lock = pgdata / "postmaster.pid"
    lines = lock.read_text().splitlines()
    lock.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")

    serve = service()
    serve.wait_ready()
    assert handle_pids(pgdata) == [serve.process.pid]
    family = postgres_family(pgdata)
    assert family[0] != os.getpid()
    # A one-shot command meanwhile uses the same server and leaves it to the service.
    done = subprocess.run(
        haochaping("keys", "create", "--role", "reader"),
        env=service_env(data_dir),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith("hcp_"), done.stderr
    assert handle_pids(pgdata) == [serve.process.pid]
    assert httpx.get(f"{serve.url}/readyz", timeout=5).status_code == 200
    serve.process.send_signal(signal.SIGTERM)
    serve.wait_exit()
    assert_no_postgres_left(pgdata, family)


def test_a_failed_start_stops_postgres(data_dir):
    """The port is taken: uvicorn cannot bind, serve exits non-zero, PostgreSQL is stopped."""
    pgdata = data_dir / "pgdata"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            haochaping("serve", "--port", str(port)),
            env=service_env(data_dir),
            cwd=data_dir,
            capture_output=True,
            text=True,
            timeout=READY_SECONDS,
        )
    assert done.returncode != 0
    assert "address already in use" in done.stderr.lower()
    assert postmasters_of(pgdata) == []
    assert handle_pids(pgdata) == []


# --- the bootstrap admin key, on an empty database of the test server (DATABASE_URL) ------------


@pytest.fixture
async def empty_database(pg_url):
    """A database of its own on the test server, with no schema (so no keys); dropped after."""
    name = f"boot_{uuid.uuid4().hex[:8]}"
    base, _, query = pg_url.partition("?")
    admin_url = base.rsplit("/", 1)[0] + "/postgres?" + query
    server = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with server.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}?" + query
    finally:
        async with server.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await server.dispose()


async def assert_admin_key(url: str, key: str) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        r = await http.get("/v1/keys", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text


async def test_without_a_terminal_the_bootstrap_key_goes_to_an_owner_only_file(
    empty_database, tmp_path
):
    serve = Service(tmp_path, env=service_env(tmp_path, DATABASE_URL=empty_database))
    try:
        serve.wait_ready()
        key_file = tmp_path / BOOTSTRAP_KEY_FILE
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key_file.stat().st_uid == os.getuid()
        key = key_file.read_text().strip()
        assert key.startswith("hcp_")
        await assert_admin_key(serve.url, key)
        serve.process.send_signal(signal.SIGTERM)
        serve.wait_exit()
        output = serve.output()
        assert key not in output  # stdout and stderr: one file here
        logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert any(entry.get("key_file") == str(key_file) for entry in logged), output
        assert not any(key in json.dumps(entry) for entry in logged)
        assert list(tmp_path.glob(f".{BOOTSTRAP_KEY_FILE}*")) == []  # no temporary file left
    finally:
        serve.close()


async def test_on_a_terminal_the_bootstrap_key_is_shown_there_and_written_nowhere(
    empty_database, tmp_path
):
    controller, terminal = pty.openpty()
    shown = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    serve = Service(
        tmp_path, env=service_env(tmp_path, DATABASE_URL=empty_database), stderr=terminal
    )
    os.close(terminal)
    try:
        serve.wait_ready()
        serve.process.send_signal(signal.SIGTERM)
        serve.wait_exit()
        reader.join(5)
        lines = bytes(shown).decode(errors="replace").splitlines()
        keys = [line.strip() for line in lines if line.strip().startswith("hcp_")]
        assert len(keys) == 1, lines
        assert not (tmp_path / BOOTSTRAP_KEY_FILE).exists()
        assert keys[0] not in serve.output()  # stdout
        assert not any(keys[0] in line for line in lines if line.startswith("{"))
        # The key works: ask a second start (it prints no key, there is one now).
        again = Service(tmp_path, env=service_env(tmp_path, DATABASE_URL=empty_database))
        try:
            again.wait_ready()
            await assert_admin_key(again.url, keys[0])
            again.process.send_signal(signal.SIGTERM)
            again.wait_exit()
            assert "bootstrap" not in again.output()
        finally:
            again.close()
    finally:
        serve.close()
        os.close(controller)


def test_a_serving_process_collects_young_objects_rarely():
    """After freeze_startup_objects (what serve runs before serving), holding a 1,000-event
    batch's worth of objects (some 20,000 containers) starts no pass of the cyclic collector;
    at CPython's default it started dozens."""
    import subprocess
    import sys

    script = """
import gc
passes = []
gc.callbacks.append(lambda phase, info: phase == "start" and passes.append(info["generation"]))
def hold():
    return [{"n": n, "tags": [str(n)]} for n in range(10_000)]
gc.collect(); passes.clear()
held = hold(); default = len(passes)
del held
from app.main import freeze_startup_objects
freeze_startup_objects(); passes.clear()
held = hold()
print(default, len(passes), gc.get_freeze_count() > 0)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    default, frozen, froze = int(out[0]), int(out[1]), out[2] == "True"
    assert default >= 20 and frozen == 0 and froze, out
