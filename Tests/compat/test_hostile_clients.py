"""Hostile clients against the release-mode host, on loopback, each bounded in connections and time.

Slow and idle connections are closed by their timeouts while the host keeps answering, and a flood under a low
descriptor limit neither stops the open connections nor spins a core (malformed HTTP: `test_hostile_http.py`;
logs, uploads, conversions and fuzzing: `test_hostile_work.py`).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time

import requests

from conftest import release_binary
from gantry_compat import cpu_seconds, wait_for
from hostile import closed_by_peer, connect, metric, read_responses

TIMEOUTS = ["--header-timeout", "2", "--idle-timeout", "2", "--body-timeout", "2", "--body-min-bytes", "4096"]


def timed_get(url: str) -> float:
    started = time.monotonic()
    r = requests.get(url, timeout=5)
    assert r.status_code == 200
    return time.monotonic() - started


def timed_echo(url: str) -> float:
    started = time.monotonic()
    r = requests.post(url, json={"text": "still here"}, timeout=5)
    assert r.status_code == 200 and r.json()["text"] == "still here"
    return time.monotonic() - started


class Trickler(threading.Thread):
    """Sends a few bytes on each socket every `interval` seconds until the server closes it."""

    def __init__(self, sockets: list[socket.socket], payload: bytes, interval: float = 0.3):
        super().__init__(daemon=True)
        self.sockets = list(sockets)
        self.payload = payload
        self.interval = interval
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.sockets:
            for sock in list(self.sockets):
                try:
                    sock.send(self.payload)
                except OSError:
                    self.sockets.remove(sock)
            self.stop.wait(self.interval)


def test_idle_slowloris_and_slow_bodies_are_closed_while_the_host_answers(gantry_pool):
    server = gantry_pool.start("timeouts", binary=release_binary(), extra_args=TIMEOUTS)
    silent = [connect(server) for _ in range(300)]
    kept_alive = []
    for _ in range(100):
        sock = connect(server)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        kept_alive.append(sock)
    slowloris = [connect(server) for _ in range(50)]
    for sock in slowloris:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    slow_bodies = [connect(server) for _ in range(20)]
    for sock in slow_bodies:
        sock.sendall(b"POST /gantry/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n{\"text\": \"")
    tricklers = [Trickler(slowloris, b"X-Slow: 1\r\n"), Trickler(slow_bodies, b"aaaaaaaaaa")]
    for trickler in tricklers:
        trickler.start()
    try:
        latencies = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            latencies.append(timed_get(server.url + "/health"))
            latencies.append(timed_echo(server.url + "/gantry/echo"))
            time.sleep(0.2)
        assert max(latencies) < 1.0, f"slowest answer {max(latencies):.3f} s while flooded"
        flood = silent + kept_alive + slowloris + slow_bodies
        wait_for(lambda: all(closed_by_peer(sock) for sock in flood), 10,
                 message="every idle, slowloris and slow-body connection closed by the host")
    finally:
        for trickler in tricklers:
            trickler.stop.set()
        for sock in silent + kept_alive + slowloris + slow_bodies:
            sock.close()
    text = requests.get(server.url + "/metrics", timeout=5).text
    for phase in ("header", "idle", "body"):
        assert metric(text, "gantry_connections_timed_out_total", phase=phase) > 0, phase
    # The connections the timeouts closed were all counted out again.
    wait_for(lambda: metric(requests.get(server.url + "/metrics", timeout=5).text, "gantry_connections_open") <= 2, 5,
             message="open-connection gauge back to idle")


def test_descriptor_exhaustion_keeps_serving_open_connections_and_recovers(gantry_pool):
    server = gantry_pool.start("fdlimit", binary=release_binary(), wrapper=["prlimit", "--nofile=256:256"],
                               extra_args=["--header-timeout", "30", "--body-timeout", "30", "--body-min-bytes", "1"])
    pid = server.proc.pid
    assert open(f"/proc/{pid}/limits").read().count("256") >= 2  # the limit applies to the server itself
    kept = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    kept.request("GET", "/health")
    assert kept.getresponse().read() == b'{"status":"ok"}'

    # Slow uploads hold a connection and a staging file each: together far more than 256 descriptors.
    flood, refused = [], 0
    head = (b"POST /files/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 1000000\r\n\r\n" + b"x" * 20000)
    for _ in range(300):
        try:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=1)
            sock.sendall(head)
            flood.append(sock)
        except OSError:
            refused += 1
    try:
        before = cpu_seconds(pid)
        time.sleep(3)
        spent = cpu_seconds(pid) - before
        assert spent < 1.0, f"{spent:.2f} s of CPU in 3 s under the flood: a busy loop"
        for _ in range(5):
            started = time.monotonic()
            kept.request("GET", "/health")
            assert kept.getresponse().read() == b'{"status":"ok"}'
            assert time.monotonic() - started < 1.0
        kept.request("GET", "/metrics")
        text = kept.getresponse().read().decode()
        assert metric(text, "gantry_accept_errors_total") > 0, "the flood never ran the process out of descriptors"
        # Uploads that could not get a staging file were told to retry, not given a 500.
        answers = b""
        for sock in flood:
            sock.setblocking(False)
            try:
                answers += sock.recv(4096)
            except OSError:
                pass
        assert b"500 Internal" not in answers
    finally:
        for sock in flood:
            sock.close()
    assert server.stderr_tail(200_000).count("cannot accept connections") == 1  # logged once, not per failure

    def fresh_health() -> bool:
        try:
            return requests.get(server.url + "/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(fresh_health, 10, message="new connections served again after the flood")
    staging = server.data_dir / "uploads" / "incoming"
    wait_for(lambda: not any(staging.iterdir()), 10, message="no staging file left by the refused uploads")
    before = cpu_seconds(pid)
    time.sleep(1)
    assert cpu_seconds(pid) - before < 0.3


def test_a_request_answered_before_its_body_is_still_timed_out(gantry_pool):
    server = gantry_pool.start("early-answer", binary=release_binary(), extra_args=TIMEOUTS)
    sock = connect(server, timeout=5)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"0123456789")  # the body arrives after the answer; then the client goes quiet
        wait_for(lambda: closed_by_peer(sock), 8, message="the idle connection closed by its timeout")
    finally:
        sock.close()
