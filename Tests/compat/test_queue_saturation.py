"""The queue at saturation: no request is ever run twice by a healthy host.

Thirty-two clients drive submit → status → result round trips of `gantry/echo` against the release build for a few
seconds, with short leases (5 s, renewed every 1.25 s) so the heartbeat runs many times while thousands of short
runs start and finish around it. Afterwards no stored request may be on a second attempt, the retry and lost-lease
counters must be zero, and the log must not say a lease was lost.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import requests

from conftest import release_binary
from hostile import metric

CLIENTS = 32
SECONDS = 8


def round_trips(server, stop: threading.Event, done: list[int], errors: list[str]) -> None:
    session = requests.Session()
    count = 0
    try:
        while not stop.is_set():
            submitted = session.post(server.queue_url + "/gantry/echo", json={"n": count}, timeout=30).json()
            while True:
                status = session.get(submitted["status_url"], timeout=30).json()["status"]
                if status == "COMPLETED":
                    break
            result = session.get(submitted["response_url"], timeout=30)
            if result.status_code != 200 or result.json().get("n") != count:
                errors.append(f"{submitted['request_id']}: {result.status_code} {result.text[:200]}")
            count += 1
    except Exception as error:  # noqa: BLE001 - reported by the test
        errors.append(repr(error))
    done.append(count)


def test_no_request_takes_a_second_attempt_at_saturation(gantry_pool):
    server = gantry_pool.start("saturated", binary=release_binary(), extra_args=["--lease-seconds", "5"])
    stop, done, errors = threading.Event(), [], []
    clients = [threading.Thread(target=round_trips, args=(server, stop, done, errors)) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    time.sleep(SECONDS)
    stop.set()
    for client in clients:
        client.join(timeout=60)
    assert not errors, errors[:5]
    total = sum(done)
    assert total > 300, f"only {total} round trips: the host was not driven hard"
    print(f"{total} round trips by {CLIENTS} clients in {SECONDS} s")
    with sqlite3.connect(server.db_path) as db:
        stored, retried = db.execute("SELECT COUNT(*), SUM(attempt > 1) FROM requests").fetchone()
    assert stored >= total and not retried, f"{retried} of {stored} requests ran more than once"
    text = requests.get(server.url + "/metrics", timeout=5).text
    assert metric(text, "gantry_attempts_retried_total") == 0
    assert metric(text, "gantry_leases_lost_total") == 0
    assert "lease lost" not in server.stderr_tail(2_000_000)
