"""Transport limits against a real `haochaping serve` over raw sockets: the request head
bounded in size and count (431), a declared body that does not arrive (408), and /metrics
behind a key."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from tests.fixtures.live_server import live_server

BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):
    with live_server(
        pg_url,
        tmp_path_factory.mktemp("transport"),
        "haochaping_test_transport",
        max_header_bytes="16384",
        max_header_count="100",
        body_timeout_seconds=str(BODY_TIMEOUT),
    ) as live:
        yield live


def exchange(
    server, head: bytes, body: bytes = b"", *, wait: float = 10.0
) -> tuple[int, dict, bytes]:
    """Send `head` + `body` (from a thread: the server may answer before it has read it all)
    and read the answer until the server closes or `wait` passes; (status, headers, body)."""
    sock = socket.create_connection((server.host, server.port), timeout=wait)

    def push():
        try:
            sock.sendall(head + body)
        except OSError:
            pass  # refused half-way: the answer is what counts

    sender = threading.Thread(target=push, daemon=True)
    sender.start()
    received = b""
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
            if b"\r\n\r\n" in received:
                top, _, rest = received.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":", 1)[1])
                    for line in top.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(rest) >= length[0]:
                    break
    finally:
        sock.close()
    assert received, "no answer"
    top, _, rest = received.partition(b"\r\n\r\n")
    status_line, *lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, rest


def get(path: str, *headers: str) -> bytes:
    return (
        "\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *headers]) + "\r\n\r\n"
    ).encode()


def test_a_plain_request_passes(server):
    status, _, body = exchange(server, get("/healthz"))
    assert status == 200, body


def test_a_1_mb_header_is_431(server):
    status, headers, body = exchange(server, get("/healthz", "X-Big: " + "a" * 1024 * 1024))
    assert status == 431
    assert headers["content-type"].startswith("application/problem+json")
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["status"] == 431 and problem["errors"][0]["field"] == "headers"
    assert "16384" in problem["detail"]


def test_a_20_kb_head_in_one_packet_is_431(server):
    status, _, _ = exchange(server, get("/healthz", *[f"X-H{i}: " + "b" * 400 for i in range(50)]))
    assert status == 431


def test_5000_headers_are_431(server):
    status, _, body = exchange(server, get("/healthz", *[f"X-{i}: 1" for i in range(5000)]))
    assert status == 431 and "100 header fields" in json.loads(body)["detail"]


def test_5000_headers_in_small_packets_are_431_for_their_count(server):
    """Cut into 2 KB packets, the head passes 100 fields long before its size bound."""
    head = get("/healthz", *[f"X-{i}: 1" for i in range(5000)])
    sock = socket.create_connection((server.host, server.port), timeout=10)
    try:
        for start in range(0, len(head), 2048):
            try:
                sock.sendall(head[start : start + 2048])
            except OSError:
                break  # refused half-way: the answer is what counts
            time.sleep(0.002)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
    top, _, body = answer.partition(b"\r\n\r\n")
    assert top.startswith(b"HTTP/1.1 431"), top
    assert "100 header fields" in json.loads(body)["detail"]


def test_101_small_headers_are_431_and_100_pass(server):
    status, _, _ = exchange(server, get("/healthz", *[f"X-{i}: 1" for i in range(101)]))
    assert status == 431
    # 100 fields in all, Host among them.
    status, _, _ = exchange(server, get("/healthz", *[f"X-{i}: 1" for i in range(99)]))
    assert status == 200


def test_a_declared_body_that_does_not_arrive_is_408(server):
    for path in ("/v1/departments/import", "/v1/ratings"):  # the generic and the direct path
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {server.keys['admin']}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        started = time.monotonic()
        status, headers, body = exchange(server, head, b'{"departments": [', wait=15)
        took = time.monotonic() - started
        assert status == 408, (path, body)
        assert BODY_TIMEOUT - 0.5 < took < BODY_TIMEOUT + 5, (path, took)
        assert headers["connection"] == "close"
        problem = json.loads(body)
        assert problem["type"].endswith("/request-timeout"), problem


def test_metrics_need_a_key_over_the_wire(server):
    assert httpx.get(f"{server.base}/metrics").status_code == 401
    r = httpx.get(f"{server.base}/metrics", headers={"X-API-Key": server.keys["reader"]})
    assert r.status_code == 200 and "haochaping_work_orders_open" in r.text


def test_405_names_every_method_of_the_path(server):
    r = httpx.request(
        "PATCH", f"{server.base}/v1/keys", headers={"X-API-Key": server.keys["admin"]}
    )
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "POST"}
