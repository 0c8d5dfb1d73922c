#!/usr/bin/env python3
"""bench/runners.py — the queue round trip through one Python runner, beside the in-process echo and RunPod's
worker SDK local API, in one run on this machine; then cancel-to-function latency.

Measures, on 127.0.0.1 only, with the same load generator (gantry-loadgen, keep-alive HTTP/1.1, no poll sleep):
  1. submit → status until COMPLETED → result of `gantry/echo` (in process) and of `bench/echo` served by one
     Python runner process (bench/runner_functions.py, gantry_runner SDK), at concurrency 8 and 64;
  2. the same round trip against RunPod's worker SDK local API (`runpod==1.12.0`, a handler returning its input,
     `--rp_serve_api`; POST /run then POST /status until COMPLETED) — the in-memory peer;
  3. CPU seconds per completed request of the host process (and of the runner / RunPod process), from /proc;
  4. cancel latency: a running `bench/spin` request is cancelled through fal's cancel route and the function
     notes when `ctx.cancelled` turned true (p50 / p99 / max over BENCH_CANCELS requests).
Prints a table and writes bench/out/runners-<timestamp>.json. Not a test: nothing fails on a missed target.

Knobs (environment): BENCH_QUEUE_DURATION (s per point, 12), BENCH_WARMUP (s, 2), BENCH_CANCELS (60),
BENCH_RUNPOD (0 skips RunPod), GANTRY_BIN / LOADGEN_BIN (use these binaries instead of building in release),
BENCH_PYTHON (the interpreter with gantry_runner installed; default .venv/bin/python, made if missing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
DURATION = float(os.environ.get("BENCH_QUEUE_DURATION", "12"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "2"))
CANCELS = int(os.environ.get("BENCH_CANCELS", "60"))
WITH_RUNPOD = os.environ.get("BENCH_RUNPOD", "1") != "0"
TOKEN = "bench:bench-secret-0001"
BODY = '{"prompt":"hello","n":1}'
TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[runners.py {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def wait_http(url: str, deadline_s: float = 60, method: str = "GET") -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None,
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {deadline_s} s")


def call(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PUT") else None)
    request = urllib.request.Request(url, method=method, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def release_binaries() -> tuple[str, str]:
    gantry, loadgen = os.environ.get("GANTRY_BIN"), os.environ.get("LOADGEN_BIN")
    if gantry and loadgen:
        return gantry, loadgen
    log("building gantry and gantry-loadgen (release, .build-release)")
    for product in ("gantry", "gantry-loadgen"):
        subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-release", "--product", product],
                       cwd=ROOT, check=True, stdout=sys.stderr)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--scratch-path", ".build-release", "--show-bin-path"],
                              cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    return gantry or f"{bin_path}/gantry", loadgen or f"{bin_path}/gantry-loadgen"


def python_with_sdk() -> str:
    python = os.environ.get("BENCH_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    if not Path(python).exists():
        log("making .venv with the SDK (Tests/compat/requirements.txt)")
        subprocess.run([sys.executable, "-m", "venv", str(ROOT / ".venv")], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r", "Tests/compat/requirements.txt"], cwd=ROOT, check=True)
    return python


def runpod_python() -> str | None:
    if not WITH_RUNPOD:
        return None
    venv = OUT / "runpod-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log("installing runpod==1.12.0 into bench/out/runpod-venv")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        result = subprocess.run([str(python), "-m", "pip", "install", "-q", "runpod==1.12.0"], capture_output=True, text=True)
        if result.returncode != 0:
            log(f"runpod could not be installed; skipping it: {result.stderr.strip()[-300:]}")
            shutil.rmtree(venv, ignore_errors=True)
            return None
    return str(python)


def loadgen(binary: str, port: int, app: str, concurrency: int, protocol: str = "fal") -> dict:
    command = [binary, "--mode", "queue", "--port", str(port), "--app", app, "-c", str(concurrency),
               "--duration", str(DURATION), "--warmup", str(WARMUP), "--body", BODY, "--protocol", protocol]
    result = subprocess.run(command, capture_output=True, text=True, timeout=DURATION + WARMUP + 120)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed: {result.stderr[-500:]}")
    return json.loads(result.stdout)


def measured(binary: str, port: int, app: str, concurrency: int, pids: dict[str, int], protocol: str = "fal") -> dict:
    """One load point, with the CPU each named process spent per completed request over the measured window."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    summary = loadgen(binary, port, app, concurrency, protocol)
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    # Warm-up requests ran too: spread the CPU over every request of the run, not only the measured ones.
    total = summary["completed"] * summary["wall_seconds"] / max(summary["seconds"], 1e-9)
    summary["cpu_ms_per_request"] = {name: round(1000 * (after[name] - before[name]) / max(total, 1), 3) for name in pids}
    return summary


def cancel_latencies(url: str, cancel_log: Path) -> list[float]:
    latencies = []
    for index in range(CANCELS):
        submitted = call("POST", f"{url}/queue/bench/spin", {"tag": str(index)})
        deadline = time.monotonic() + 30
        while call("GET", submitted["status_url"])["status"] != "IN_PROGRESS":
            if time.monotonic() > deadline:
                raise RuntimeError("bench/spin never started")
            time.sleep(0.005)
        time.sleep(0.02)  # let the function reach its loop
        sent = time.time()
        call("PUT", submitted["cancel_url"])
        deadline = time.monotonic() + 30
        while True:
            seen = dict(line.split() for line in cancel_log.read_text().splitlines() if line.strip()) if cancel_log.exists() else {}
            if submitted["request_id"] in seen:
                latencies.append((float(seen[submitted["request_id"]]) - sent) * 1000)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the function never saw its cancel")
            time.sleep(0.005)
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p * len(ordered) + 0.5)) - 1))]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    gantry, loadgen_bin = release_binaries()
    python = python_with_sdk()
    rp_python = runpod_python()
    work = Path(tempfile.mkdtemp(prefix="gantry-runners-bench-"))
    processes: list[subprocess.Popen] = []
    results: dict = {"cores": os.cpu_count(), "duration_s": DURATION, "warmup_s": WARMUP, "body": BODY}
    try:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GANTRY_")}
        env["GANTRY_RUNNER_TOKENS"] = TOKEN + ":bench/*"
        host = subprocess.Popen([gantry, "serve", "--port", str(port), "--data-dir", str(work / "data"),
                                 "--functions", str(ROOT / "functions"), "--schemas", str(ROOT / "schemas"),
                                 "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                                stderr=open(work / "host.log", "wb"))
        processes.append(host)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health")
        cancel_log = work / "cancels.txt"
        runner_env = dict(os.environ, GANTRY_URL=url, GANTRY_RUNNER_TOKEN=TOKEN, BENCH_CANCEL_LOG=str(cancel_log),
                          PYTHONPATH=str(ROOT / "bench"))
        runner = subprocess.Popen([python, "-m", "gantry_runner", "serve", "runner_functions:app"], env=runner_env,
                                  cwd=ROOT / "bench", stdout=subprocess.DEVNULL, stderr=open(work / "runner.log", "wb"))
        processes.append(runner)
        deadline = time.monotonic() + 60
        while not any(r.get("connected") for r in call("GET", url + "/runners/v1/runners").get("runners", [])):
            if time.monotonic() > deadline or runner.poll() is not None:
                raise RuntimeError(f"the runner did not connect:\n{(work / 'runner.log').read_text()[-2000:]}")
            time.sleep(0.1)
        log(f"host on {url}, runner connected")

        points = []
        for concurrency in (8, 64):
            log(f"gantry/echo in process, c={concurrency}")
            points.append(("gantry/echo (in process)", concurrency,
                           measured(loadgen_bin, port, "gantry/echo", concurrency, {"host": host.pid})))
            log(f"bench/echo through one Python runner, c={concurrency}")
            points.append(("bench/echo (Python runner)", concurrency,
                           measured(loadgen_bin, port, "bench/echo", concurrency, {"host": host.pid, "runner": runner.pid})))
        log(f"cancel latency over {CANCELS} requests")
        latencies = cancel_latencies(url, cancel_log)
        results["cancel_ms"] = {"count": len(latencies), "p50": round(statistics.median(latencies), 2),
                                "p99": round(percentile(latencies, 0.99), 2), "max": round(max(latencies), 2)}
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        processes.clear()

        if rp_python:
            rp_port = free_port()
            handler = work / "runpod_echo.py"
            handler.write_text("import runpod\n\ndef handler(job):\n    return job['input']\n\n"
                               "runpod.serverless.start({'handler': handler})\n")
            peer = subprocess.Popen([rp_python, str(handler), "--rp_serve_api", "--rp_api_port", str(rp_port)],
                                    stdout=subprocess.DEVNULL, stderr=open(work / "runpod.log", "wb"))
            processes.append(peer)
            wait_http(f"http://127.0.0.1:{rp_port}/run", method="POST")
            for concurrency in (8, 64):
                log(f"RunPod local API, c={concurrency}")
                points.append(("RunPod local API (in memory)", concurrency,
                               measured(loadgen_bin, rp_port, "-", concurrency, {"runpod": peer.pid}, protocol="runpod")))
        results["points"] = [{"what": what, "concurrency": c, **summary} for what, c, summary in points]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (OUT / f"runners-{stamp}.json").write_text(json.dumps(results, indent=2))
    print(f"{'what':32} {'c':>3} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}  CPU ms per request")
    for point in results.get("points", []):
        cpu = ", ".join(f"{name} {value}" for name, value in point["cpu_ms_per_request"].items())
        print(f"{point['what']:32} {point['concurrency']:>3} {point['rps']:>8.0f} {point['p50_ms']:>7.2f} "
              f"{point['p99_ms']:>7.2f}  {cpu}{'  (errors: %d)' % point['errors'] if point['errors'] else ''}")
    cancel = results.get("cancel_ms")
    if cancel:
        print(f"cancel → function sees it: p50 {cancel['p50']} ms, p99 {cancel['p99']} ms, max {cancel['max']} ms "
              f"({cancel['count']} cancels)")
    print(f"(written to bench/out/runners-{stamp}.json; {os.cpu_count()} cores shared by host, runner, peer and load generator)")


if __name__ == "__main__":
    main()
