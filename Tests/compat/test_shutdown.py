"""SIGTERM drains gracefully: work that finishes within the grace period completes, work that does not goes back to
the queue without spending an attempt, the process exits 0, and after a restart every request completes."""

from __future__ import annotations

import sqlite3

from gantry_compat import wait_for


def test_sigterm_finishes_short_work_and_requeues_long_work(gantry_pool):
    server = gantry_pool.start("shutdown")  # started with --shutdown-grace 2
    http = server.session()
    short = http.post(f"{server.queue_url}/gantry/echo", json={"delay_ms": 300, "tag": "short"}, timeout=10).json()
    long = http.post(f"{server.queue_url}/gantry/echo", json={"delay_ms": 6000, "tag": "long"}, timeout=10).json()

    def both_running():
        states = [http.get(r["status_url"], timeout=5).json()["status"] for r in (short, long)]
        return states if all(s == "IN_PROGRESS" for s in states) else None

    wait_for(both_running, 10, 0.02, "both requests running")
    server.stop(grace_s=15)
    assert server.proc.returncode == 0, server.stderr_tail()

    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        rows = dict(db.execute("SELECT id, state || ':' || attempt FROM requests").fetchall())
    assert rows[short["request_id"]] == "succeeded:1", rows
    assert rows[long["request_id"]] == "queued:0", rows  # released, the interrupted attempt not counted

    server.restart()
    http = server.session()

    def long_done():
        body = http.get(long["status_url"], timeout=5).json()
        return body if body["status"] == "COMPLETED" else None

    done = wait_for(long_done, 20, 0.1, "the released request to complete after restart")
    assert "error" not in done, done
    assert http.get(long["response_url"], timeout=5).json()["tag"] == "long"
    assert http.get(short["response_url"], timeout=5).json()["tag"] == "short"
