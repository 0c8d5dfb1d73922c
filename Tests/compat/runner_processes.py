"""Runner processes for the compat tier: real `python -m gantry_runner serve FILE:app` subprocesses (the SDK in
sdk/python) serving functions for a `GantryServer`, and a pool that disposes of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import STARTUP_DEADLINE_S, GantryServer

#: Runner processes alive now (a failing test's report shows their log tails).
LIVE_RUNNERS: list["RunnerProcess"] = []
RUNNERS_DIR = Path(__file__).resolve().parent / "runners"

class RunnerProcess:
    """One `python -m gantry_runner serve FILE:app` subprocess serving functions for a `GantryServer`.

    Its instance id is fixed (`name-<random>`), so readiness is polled on `GET /runners/v1/runners` until that instance
    is listed as connected. Functions write marker files into `marks` (env `COMPAT_MARKS`) so tests can see what
    happened inside them."""

    def __init__(self, server: GantryServer, target: Path, token: str, *, workdir: Path, marks: Path, name: str,
                 args: list[str] | None = None, env: dict[str, str] | None = None):
        self.server = server
        self.target = target
        self.token = token
        self.name = name
        self.instance = f"{name}-{os.urandom(4).hex()}"
        self.marks = marks
        self.args = args or []
        self.extra_env = env or {}
        self.log_path = workdir / f"{self.instance}.log"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "gantry_runner", "serve", f"{self.target}:app", "--instance", self.instance,
                "--log-level", "DEBUG", *self.args]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("GANTRY_") and k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
        env.update(GANTRY_URL=self.server.url, GANTRY_RUNNER_TOKEN=self.token, COMPAT_MARKS=str(self.marks),
                   NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
        if self.server.tls:
            env["SSL_CERT_FILE"] = str(self.server.tls.cert)
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True, deadline_s: float = STARTUP_DEADLINE_S) -> "RunnerProcess":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.environment(), cwd=str(self.log_path.parent))
        LIVE_RUNNERS.append(self)
        if wait:
            self.wait_connected(deadline_s)
        return self

    def listing(self) -> dict | None:
        """This instance's entry in `GET /runners/v1/runners`, or None."""
        try:
            r = requests.get(self.server.url + "/runners/v1/runners", headers={"Authorization": f"Bearer {self.token}"},
                             verify=self.server.verify, timeout=5)
        except requests.RequestException:
            return None
        if r.status_code != 200:
            return None
        for entry in (r.json() or {}).get("runners") or []:
            if entry.get("instance") == self.instance:
                return entry
        return None

    def wait_connected(self, deadline_s: float = STARTUP_DEADLINE_S) -> dict:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runner {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            entry = self.listing()
            if entry and entry.get("connected"):
                return entry
            time.sleep(0.05)
        raise RuntimeError(f"runner {self.name} not connected within {deadline_s} s:\n{self.log_tail()}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def terminate(self, timeout_s: float = 20.0) -> int:
        """SIGTERM and wait for the exit (SIGKILL past the deadline); returns the exit status."""
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.proc.returncode

    def dispose(self) -> None:
        self.kill9()
        if self in LIVE_RUNNERS:
            LIVE_RUNNERS.remove(self)

    def log_tail(self, limit: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except FileNotFoundError:
            return ""


class RunnerPool:
    """Starts runner processes (sharing one marks directory) and kills them all at teardown."""

    def __init__(self, tmp_factory: pytest.TempPathFactory, prefix: str):
        self.workdir = tmp_factory.mktemp(f"{prefix}-runners")
        self.marks = self.workdir / "marks"
        self.marks.mkdir()
        self.runners: list[RunnerProcess] = []

    def start(self, server: GantryServer, target: str | Path = "basic.py", *, token: str, name: str = "runner",
              args: list[str] | None = None, env: dict[str, str] | None = None, wait: bool = True) -> RunnerProcess:
        path = Path(target)
        if not path.is_absolute():
            path = RUNNERS_DIR / path
        runner = RunnerProcess(server, path, token, workdir=self.workdir, marks=self.marks, name=name, args=args, env=env)
        self.runners.append(runner)
        return runner.start(wait=wait)

    def mark(self, name: str) -> Path:
        return self.marks / name

    def wait_mark(self, name: str, timeout_s: float) -> float:
        """Waits for the marker file `name` (a function wrote it) and returns the time.time() stamp it holds."""
        deadline = time.monotonic() + timeout_s
        path = self.marks / name
        while time.monotonic() < deadline:
            try:
                text = path.read_text()
                if text:
                    return float(text)
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        pytest.fail(f"marker {name} not written within {timeout_s} s (have: {sorted(p.name for p in self.marks.iterdir())})")

    def close(self) -> None:
        for runner in self.runners:
            runner.dispose()
