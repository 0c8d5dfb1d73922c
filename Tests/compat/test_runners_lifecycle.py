"""Runners and hosts coming and going: each test has its own `gantry serve` (plain HTTP, API keys) and its own runner
processes (the real SDK, `runners/*.py`), and kills, stops or restarts them.

- the host validates against a runner's schema while no runner is connected, and says the request waits for one;
- a stale runner's late result is refused (409) and changes nothing (raw protocol calls with httpx);
- `kill -9` of a runner mid-job: a second runner completes it as attempt 2, exactly one result;
- SIGTERM of a runner: short work finishes, long work goes back to the queue uncounted;
- a host restart with a runner connected: the runner reconnects, and a request from before the restart completes
  exactly once.
"""

from __future__ import annotations

import sqlite3
import time
import uuid

import httpx

from gantry_compat import ALICE, API_KEYS, assert_envelope, field_issues, wait_for

RUNNER_TOKENS = "compat:compat-secret-1:compat/*"
COMPAT_TOKEN = "compat:compat-secret-1"
WAITING = "waiting for a runner: none serving compat/typed is connected"


def submit(server, function: str, arguments: dict, http=None) -> dict:
    http = http or server.session(ALICE)
    r = http.post(f"{server.queue_url}/{function}", json=arguments, timeout=10)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return r.json()


def status(server, submitted: dict, logs: bool = False) -> dict:
    r = server.session(ALICE).get(submitted["status_url"], params={"logs": "1" if logs else "0"}, timeout=10)
    assert r.status_code in (200, 202), (r.status_code, r.text[:500])
    return r.json()


def wait_completed(server, submitted: dict, timeout_s: float = 30) -> dict:
    def done():
        body = status(server, submitted, logs=True)
        return body if body["status"] == "COMPLETED" else None

    return wait_for(done, timeout_s, 0.05, f"request {submitted['request_id']} to complete")


def result(server, submitted: dict) -> tuple[int, dict]:
    r = server.session(ALICE).get(submitted["response_url"], timeout=10)
    return r.status_code, r.json()


def rows(server, request_id: str) -> list[tuple]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10) as db:
        return db.execute("SELECT state, attempt FROM requests WHERE id = ?", (request_id,)).fetchall()


# -- schema validation with no runner connected --------------------------------------------------------------------------
def test_schema_422_and_waiting_while_no_runner_is_connected(gantry_pool, runners):
    server = gantry_pool.start("typed", api_keys=API_KEYS, runner_tokens=RUNNER_TOKENS,
                               extra_args=["--lease-seconds", "3"])
    first = runners.start(server, "typed.py", token=COMPAT_TOKEN, name="typed")
    assert first.terminate() == 0, first.log_tail()
    http = server.session(ALICE)

    r = http.post(f"{server.queue_url}/compat/typed", json={"prompt": "", "count": 9, "mode": "slow"}, timeout=10)
    body = assert_envelope(r, 422)
    for field in ("prompt", "count", "mode"):
        assert field_issues(body, field), (field, body)
    body = assert_envelope(http.post(f"{server.queue_url}/compat/typed", json={"count": 2}, timeout=10), 422)
    assert field_issues(body, "prompt"), body
    body = assert_envelope(http.post(f"{server.url}/compat/typed", json={"prompt": 5}, timeout=10), 422)
    assert field_issues(body, "prompt"), body

    queued = submit(server, "compat/typed", {"prompt": "wait for me"})
    assert status(server, queued)["status"] == "IN_QUEUE"

    def says_waiting():
        body = status(server, queued, logs=True)
        assert body["status"] == "IN_QUEUE", body
        return body if any(WAITING in e.get("message", "") for e in body.get("logs") or []) else None

    wait_for(says_waiting, 20, 0.1, "the status to say the request waits for a runner")

    # A runner coming back serves it (the host validated and filled in the defaults).
    runners.start(server, "typed.py", token=COMPAT_TOKEN, name="typed-again")
    done = wait_completed(server, queued, 20)
    assert "error" not in done or done["error"] is None, done
    assert result(server, queued) == (200, {"prompt": "wait for me", "count": 1, "mode": "fast", "attempt": 1})


# -- a stale runner's late result ------------------------------------------------------------------------------------------
def test_stale_runner_late_result_is_refused_and_changes_nothing(gantry_pool):
    server = gantry_pool.start("stale", api_keys=API_KEYS, runner_tokens=RUNNER_TOKENS,
                               extra_args=["--lease-seconds", "2"])
    rpc = httpx.Client(base_url=f"{server.url}/runners/v1", headers={"Authorization": f"Bearer {COMPAT_TOKEN}"},
                       timeout=30, trust_env=False)
    declaration = {"id": "compat/raw", "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                   "output_schema": {"type": "object"}, "concurrency": 1, "max_attempts": 3}
    for instance in ("stale-a", "fresh-b"):
        r = rpc.post("/register", json={"instance": instance, "sdk": "httpx", "functions": [declaration]})
        assert r.status_code == 200, r.text
        assert r.json()["lease_seconds"] == 2

    submitted = submit(server, "compat/raw", {"n": 7})
    rid = submitted["request_id"]
    r = rpc.post("/claim", json={"instance": "stale-a", "functions": ["compat/raw"], "max": 4, "wait_seconds": 10})
    [job_a] = r.json()["jobs"]
    assert job_a["request_id"] == rid and job_a["attempt"] == 1 and job_a["input"] == {"n": 7}, job_a
    token_a = job_a["lease_token"]
    r = rpc.post(f"/requests/{rid}/events", json={"lease_token": token_a, "logs": [{"message": "a was here"}]})
    assert r.status_code == 200 and r.json() == {"cancel_requested": False}, r.text

    # stale-a goes silent; after the lease it is rescued and fresh-b claims attempt 2.
    deadline = time.monotonic() + 20
    job_b = None
    while job_b is None:
        assert time.monotonic() < deadline, "the request was not handed out again within 20 s"
        jobs = rpc.post("/claim", json={"instance": "fresh-b", "functions": ["compat/raw"], "max": 1,
                                        "wait_seconds": 1}).json()["jobs"]
        job_b = jobs[0] if jobs else None
    assert job_b["request_id"] == rid and job_b["attempt"] == 2 and job_b["lease_token"] != token_a, job_b
    token_b = job_b["lease_token"]

    # Everything stale-a still says about its attempt is refused.
    late = rpc.post(f"/requests/{rid}/result", json={"lease_token": token_a, "output": {"by": "a"}})
    assert_envelope(late, 409, "lease_lost")
    batch = rpc.post("/results", json={"instance": "stale-a", "results": [
        {"request_id": rid, "lease_token": token_a, "error": {"message": "a failed late"}}]})
    assert batch.status_code == 200 and [e["status"] for e in batch.json()["results"]] == [409], batch.text
    assert_envelope(rpc.post(f"/requests/{rid}/events", json={"lease_token": token_a, "progress": 0.9}),
                    409, "lease_lost")
    upload = rpc.post(f"/requests/{rid}/files", content=b"late", headers={
        "content-type": "text/plain", "x-gantry-lease-token": token_a})
    assert_envelope(upload, 409, "lease_lost")
    assert_envelope(rpc.post(f"/requests/{rid}/release", json={"lease_token": token_a}), 409, "lease_lost")
    beat = rpc.post("/heartbeat", json={"instance": "stale-a", "in_flight": [{"request_id": rid, "lease_token": token_a}]})
    assert beat.status_code == 200 and beat.json()["lost"] == [rid], beat.text
    assert status(server, submitted)["status"] == "IN_PROGRESS"
    assert rows(server, rid) == [("running", 2)]

    # fresh-b's result is the one; posting it again is harmless; stale-a still changes nothing.
    r = rpc.post(f"/requests/{rid}/result", json={"lease_token": token_b, "output": {"by": "b"}})
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
    again = rpc.post("/results", json={"instance": "fresh-b", "results": [
        {"request_id": rid, "lease_token": token_b, "output": {"by": "b"}}]})
    assert [(e["status"], e["state"]) for e in again.json()["results"]] == [(200, "succeeded")], again.text
    assert_envelope(rpc.post(f"/requests/{rid}/result", json={"lease_token": token_a, "output": {"by": "a"}}),
                    409, "lease_lost")
    wait_completed(server, submitted, 10)
    assert result(server, submitted) == (200, {"by": "b"})
    assert rows(server, rid) == [("succeeded", 2)]
    rpc.close()


# -- kill -9 of a runner mid-job ---------------------------------------------------------------------------------------------
def test_kill9_runner_mid_job_second_runner_completes_it(gantry_pool, runners):
    server = gantry_pool.start("failover", api_keys=API_KEYS, runner_tokens=RUNNER_TOKENS,
                               extra_args=["--lease-seconds", "3"])
    first = runners.start(server, "basic.py", token=COMPAT_TOKEN, name="first")
    submitted = submit(server, "compat/slow", {"seconds": 60, "only_first_attempt": True})
    rid = submitted["request_id"]
    runners.wait_mark(f"started-{rid}-1", 20)
    first.kill9()
    assert first.proc.returncode == -9

    runners.start(server, "basic.py", token=COMPAT_TOKEN, name="second")
    done = wait_completed(server, submitted, 30)
    assert done.get("error") is None, done
    assert result(server, submitted) == (200, {"attempt": 2, "request_id": rid})
    assert rows(server, rid) == [("succeeded", 2)]
    assert runners.mark(f"done-{rid}-2").exists() and not runners.mark(f"done-{rid}-1").exists()
    # The finished request stays finished: nothing re-runs it.
    time.sleep(0.5)
    assert result(server, submitted) == (200, {"attempt": 2, "request_id": rid})


# -- SIGTERM of a runner -------------------------------------------------------------------------------------------------------
def test_runner_sigterm_finishes_short_work_and_releases_long_work(gantry_pool, runners):
    server = gantry_pool.start("drain", api_keys=API_KEYS, runner_tokens=RUNNER_TOKENS)  # 60 s leases
    first = runners.start(server, "basic.py", token=COMPAT_TOKEN, name="draining", args=["--grace-seconds", "1.5"])
    short = submit(server, "compat/slow", {"seconds": 0.8})
    long = submit(server, "compat/slow", {"seconds": 60})
    runners.wait_mark(f"started-{short['request_id']}-1", 20)
    runners.wait_mark(f"started-{long['request_id']}-1", 20)

    stopped_at = time.time()
    assert first.terminate(timeout_s=20) == 0, first.log_tail()
    assert time.time() - stopped_at < 10, "the runner should exit soon after its grace period"
    assert rows(server, short["request_id"]) == [("succeeded", 1)]
    assert rows(server, long["request_id"]) == [("queued", 0)]  # given back, the attempt not counted
    assert status(server, long)["status"] == "IN_QUEUE"

    # Another runner picks it up at once (no lease to wait out) as attempt 1.
    runners.start(server, "basic.py", token=COMPAT_TOKEN, name="successor")

    def restarted():
        stamp = float(runners.mark(f"started-{long['request_id']}-1").read_text() or 0)
        return stamp > stopped_at

    wait_for(restarted, 15, 0.05, "the released request to start on the second runner")
    r = server.session(ALICE).put(long["cancel_url"], timeout=10)
    assert r.status_code == 202, r.text
    assert wait_completed(server, long, 10)["error_type"] == "request_cancelled"


# -- host restart with a runner connected ---------------------------------------------------------------------------------------
def test_host_restart_runner_reconnects_and_work_completes_once(gantry_pool, runners):
    server = gantry_pool.start("restart", api_keys=API_KEYS, runner_tokens=RUNNER_TOKENS)
    runner = runners.start(server, "basic.py", token=COMPAT_TOKEN, name="survivor")
    before = submit(server, "compat/slow", {"seconds": 4})
    rid = before["request_id"]
    runners.wait_mark(f"started-{rid}-1", 20)

    stopping = time.monotonic()
    server.stop(grace_s=8.0)
    assert server.proc.returncode == 0, (
        f"SIGTERM with a runner connected: the host did not exit within 8 s (rc {server.proc.returncode}); its "
        f"runner long polls must be answered at once on shutdown\n{server.stderr_tail()}")
    assert time.monotonic() - stopping < 8.0
    server.restart()
    runner.wait_connected(30)  # registered again after its backoff
    assert runner.alive

    marker = uuid.uuid4().hex
    after = submit(server, "compat/echo", {"text": marker})
    wait_completed(server, after, 30)
    assert result(server, after) == (200, {"text": marker, "attempt": 1, "request_id": after["request_id"]})

    done = wait_completed(server, before, 30)
    assert done.get("error") is None, done
    code, output = result(server, before)
    [(state, attempt)] = rows(server, rid)
    assert code == 200 and state == "succeeded" and output == {"attempt": attempt, "request_id": rid}, (output, state)
    # Exactly one outcome: whichever attempt finished last on the runner is the one the host kept.
    assert runners.mark(f"done-{rid}-{attempt}").exists()
    time.sleep(0.5)
    assert result(server, before) == (code, output) and rows(server, rid) == [(state, attempt)]
    assert runner.alive, runner.log_tail()
