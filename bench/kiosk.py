"""The tablet page's load time, as a tablet on the hall's network sees it.

    python bench/kiosk.py [--loads 30]

Starts a real `haochaping serve` (embedded PostgreSQL in a temporary directory) on 127.0.0.1,
then opens /kiosk in headless Chromium (Debian's /usr/bin/chromium) `--loads` times, each in a
fresh browser context (cold cache: a tablet switched on) and once more reloaded in the same
context (warm: a tablet returning to idle), and reads the page's own navigation timing
(loadEventEnd). Prints p50/p99 of each. Target (issue 13): under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
LOAD_END = "performance.getEntriesByType('navigation')[0].loadEventEnd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_ready(base: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"haochaping serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("haochaping serve did not become ready")


async def measure(base: str, loads: int) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            for _ in range(loads):
                context = await browser.new_context(viewport={"width": 1280, "height": 800})
                page = await context.new_page()
                await page.goto(f"{base}/kiosk", wait_until="load")
                cold.append(await page.evaluate(LOAD_END))
                await page.reload(wait_until="load")
                warm.append(await page.evaluate(LOAD_END))
                await context.close()
        finally:
            await browser.close()
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-kiosk-") as data_dir:
        env = {**os.environ, "HAOCHAPING_DATA_DIR": data_dir}
        env.pop("DATABASE_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--no-access-log"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(base, server)
            httpx.get(f"{base}/kiosk")  # the server's first page (templates, asset digest)
            cold, warm = asyncio.run(measure(base, args.loads))
        finally:
            server.terminate()
            server.wait(timeout=60)
    load = os.getloadavg()[0]
    for name, samples in (("cold (fresh context)", cold), ("warm (reload)", warm)):
        print(
            f"/kiosk {name:22s} p50 {pct(samples, 0.5):6.0f} ms  p99 {pct(samples, 0.99):6.0f} ms"
            f"  mean {statistics.fmean(samples):6.0f} ms  n={len(samples)}"
        )
    print(f"load average {load:.1f}; target: under 1,000 ms")


if __name__ == "__main__":
    main()
