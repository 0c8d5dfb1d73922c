#!/usr/bin/env python3
"""Webhook delivery benchmark: N echo requests submitted through the queue, once without webhooks (baseline: time
until all have completed, read from /metrics) and once with `?fal_webhook=` to a local receiver (time until every
delivery has arrived, and each delivery's lag after its request completed). Loopback only.

Usage: GANTRY_BIN=.build-release/release/gantry python3 bench/webhooks.py [N]
"""
import concurrent.futures
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
BIN = os.environ.get("GANTRY_BIN", ".build/debug/gantry")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        self.arrivals = {}
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(handler):  # noqa: N802
                body = handler.rfile.read(int(handler.headers.get("content-length", 0)))
                with self.lock:
                    self.arrivals.setdefault(json.loads(body)["request_id"], time.monotonic())
                handler.send_response(200)
                handler.send_header("content-length", "0")
                handler.end_headers()

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def post(url, body=b"{}"):
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def succeeded(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    match = re.search(r'gantry_requests_stored\{function="gantry/echo",state="succeeded"\} (\d+)', text)
    return int(match.group(1)) if match else 0


def run(webhook, receiver):
    data = tempfile.mkdtemp(prefix="gantry-bench-webhooks-")
    port = free_port()
    server = subprocess.Popen([BIN, "serve", "--port", str(port), "--data-dir", data, "--allow-egress", "127.0.0.1/32",
                               "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        hook = urllib.parse.quote(f"http://127.0.0.1:{receiver.server_address[1]}/hook", safe="")
        suffix = f"?fal_webhook={hook}" if webhook else ""
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(lambda _: post(f"{base}/queue/gantry/echo{suffix}")["request_id"], range(N)))
        submitted = time.monotonic() - start
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if webhook:
                with receiver.lock:
                    done = sum(1 for i in ids if i in receiver.arrivals)
            else:
                done = succeeded(base)
            if done >= N:
                break
            time.sleep(0.02)
        return submitted, time.monotonic() - start, done
    finally:
        server.terminate()
        server.wait(30)


def main():
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    print(f"binary {BIN}, N = {N} gantry/echo requests, 16 submitting threads, loopback receiver")
    s0, t0, d0 = run(False, receiver)
    print(f"baseline (no webhooks):   submitted in {s0:6.2f} s, all {d0} completed after {t0:6.2f} s "
          f"({N / t0:7.1f} req/s)")
    s1, t1, d1 = run(True, receiver)
    print(f"with webhooks:            submitted in {s1:6.2f} s, all {d1} delivered after {t1:6.2f} s "
          f"({N / t1:7.1f} req/s); webhooks cost {100 * (t1 - t0) / t0:+.0f} % end to end")
    receiver.shutdown()


if __name__ == "__main__":
    main()
