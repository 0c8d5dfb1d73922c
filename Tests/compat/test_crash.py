"""kill -9 in the middle of a busy queue loses nothing and shows every result exactly once.

200 gantry/echo requests, each with its own marker and delay_ms 300, go in over plain HTTP; gantry/echo runs with
concurrency 8 (a temp manifest copy) so that at the kill some are running and most are still queued. The server
is SIGKILLed, restarted on the same data directory and port, and every request must then complete with exactly
its own result; the SQLite file must hold exactly those 200 rows, all terminal.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from gantry_compat import functions_copy, wait_for

N = 200
DELAY_MS = 300
TERMINAL = {"succeeded", "failed", "cancelled", "expired"}


def statuses(server, ids: list[str], sessions) -> dict[str, dict]:
    """The status objects of `ids`, fetched in parallel."""
    def one(pair):
        index, request_id = pair
        r = sessions[index % len(sessions)].get(f"{server.queue_url}/gantry/echo/requests/{request_id}/status", timeout=10)
        assert r.status_code in (200, 202), (request_id, r.status_code, r.text)
        return request_id, r.json()

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        return dict(pool.map(one, enumerate(ids)))


def test_kill9_loses_nothing(gantry_pool, tmp_path):
    functions = functions_copy(tmp_path / "functions", {"gantry/echo": {"concurrency": 8}})
    server = gantry_pool.start("crash", functions_dir=functions)
    sessions = [requests.Session() for _ in range(8)]

    markers: dict[str, str] = {}
    for i in range(N):
        marker = f"marker-{i:03d}-{uuid.uuid4().hex}"
        r = sessions[0].post(f"{server.queue_url}/gantry/echo", json={"marker": marker, "delay_ms": DELAY_MS}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["request_id"] not in markers
        markers[body["request_id"]] = marker
    ids = list(markers)

    def mixed():
        counts: dict[str, int] = {}
        for status in statuses(server, ids, sessions).values():
            counts[status["status"]] = counts.get(status["status"], 0) + 1
        return counts if counts.get("IN_PROGRESS", 0) >= 3 and counts.get("IN_QUEUE", 0) >= 20 else None

    before = wait_for(mixed, 20, 0.05, "some requests running and some queued")
    server.kill9()
    assert server.proc.returncode == -9
    print(f"at the kill: {before}")

    server.restart()

    pending = set(ids)
    final: dict[str, dict] = {}
    deadline = time.monotonic() + 120
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} requests not COMPLETED within 120 s after the restart"
        for request_id, status in statuses(server, sorted(pending), sessions).items():
            if status["status"] == "COMPLETED":
                final[request_id] = status
                pending.discard(request_id)
        if pending:
            time.sleep(0.2)

    failed = {rid: (s.get("error"), s.get("error_type")) for rid, s in final.items() if s.get("error") or s.get("error_type")}
    assert not failed, f"{len(failed)} requests failed: {list(failed.items())[:5]}"

    def result(request_id):
        r = sessions[hash(request_id) % len(sessions)].get(f"{server.queue_url}/gantry/echo/requests/{request_id}", timeout=10)
        return request_id, r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        results = list(pool.map(result, ids))
    wrong = [(rid, code, body) for rid, code, body in results
             if code != 200 or body != {"marker": markers[rid], "delay_ms": DELAY_MS, "sync_mode": False}]
    assert not wrong, f"{len(wrong)} wrong results, e.g. {wrong[:3]}"
    assert len({body["marker"] for _, _, body in results}) == N

    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10) as db:
        rows = db.execute("SELECT id, state, attempt, result_status FROM requests").fetchall()
    assert len(rows) == N, f"{len(rows)} rows in requests, expected {N}"
    assert {row[0] for row in rows} == set(ids)
    not_terminal = [row for row in rows if row[1] not in TERMINAL]
    assert not not_terminal, not_terminal[:5]
    assert all(row[1] == "succeeded" and row[3] == 200 for row in rows), [r for r in rows if r[1] != "succeeded"][:5]
    rerun = [row for row in rows if row[2] >= 2]
    assert rerun, "the requests running at the kill should have been re-run (attempt 2)"
    print(f"re-run after the kill: {len(rerun)} requests")
