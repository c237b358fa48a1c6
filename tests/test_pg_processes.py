"""
Several orchestrator processes on one PostgreSQL database (`tests.pg_worker`), SIGKILLed at
random moments, with standbys taking their streams over: every key dispatched at most once,
every returned result stored, every stream's chain verifying, positions equal to a replay;
and the takeover of a SIGKILLed owner's stream, timed.
"""

from __future__ import annotations

# ruff: noqa: E402 - the imports below need psycopg, checked first
from tests.pg_server import require_psycopg

require_psycopg()

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from execfsm.governance.trail import verify_trail
from execfsm.ledger.postgres import PostgresStore, load_streams
from execfsm.registry import builtin_machines
from execfsm.stages import intake
from execfsm.testing import paper_orchestrator
from tests.pg_worker import intent
from tests.recon_settings import RECOVERY_ONLY

ROOT = Path(__file__).resolve().parent.parent
TAKEOVER_BOUND = 5.0
"""Seconds from the owner's SIGKILL to the standby's recovered session, at most (CI)."""


class Worker:
    """A `tests.pg_worker` process and the lines it printed (read by a thread)."""

    def __init__(self, url: str, stream: str, seed: int, count: int, wait: float | None = None):
        argv = [sys.executable, "-m", "tests.pg_worker", url, stream, str(seed), str(count)]
        if wait is not None:
            argv.append(str(wait))
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)}
        self.stream = stream
        self.proc = subprocess.Popen(  # noqa: S603 - our own driver
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.005)
        err = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
        raise AssertionError(f"{self.stream}: no {prefix!r} line; printed {self.lines[-5:]} {err}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def results(self) -> int:
        return sum(1 for line in self.lines if line.startswith("RESULT "))

    def finish(self, timeout: float = 60) -> None:
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self._reader.join(5)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        assert self.proc.returncode in (0, -signal.SIGKILL), f"{self.stream}: {err[-2000:]}"

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        return time.time()


def dispatches(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT idempotency_key, stream FROM test_dispatches").fetchall()
    return [(key, stream) for key, stream in rows]


class TestManyProcesses:
    def test_racing_processes_killed_and_taken_over_dispatch_each_key_once(
        self, pg_url: str
    ) -> None:
        """Four processes race over the same 24 keys; two are SIGKILLed at random moments and
        their standbys take their streams over. No key reaches the venue twice, every result
        a process printed is stored, every chain verifies and every stream reopens (recovery
        checks its positions against a replay of its trail)."""
        rng = random.Random(int(os.environ.get("EXECFSM_PG_SEED", "22")))
        count = 60
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE test_dispatches (idempotency_key TEXT NOT NULL, "
                "stream TEXT NOT NULL, pid INTEGER NOT NULL)"
            )
        workers = [Worker(pg_url, f"s{n}", rng.randrange(1000), count) for n in range(4)]
        for worker in workers:
            worker.wait_for("RECOVERED")
        standbys = [Worker(pg_url, f"s{n}", rng.randrange(1000), count, wait=60) for n in (0, 1)]
        for standby in standbys:
            standby.wait_for("WAITING")
        time.sleep(0.5)  # the standbys have connected and wait on the locks
        for worker in [*workers, *standbys]:
            worker.go()
        took: list[float] = []
        for victim, standby in zip(workers[:2], standbys, strict=True):
            deadline = time.monotonic() + 10
            target = rng.randrange(1, count // 3)
            while victim.results() < target and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(rng.random() * 0.01)  # anywhere: in a commit, inside the venue call
            assert victim.proc.poll() is None, f"{victim.stream} ended before it was killed"
            killed = victim.kill()
            owned = float(standby.wait_for("RECOVERED").split()[1])
            took.append(owned - killed)
        for worker in [*workers, *standbys]:
            worker.finish()
        sent = dispatches(pg_url)
        streams = load_streams(pg_url)
        print(f"takeover after SIGKILL (lock + recovery): {', '.join(f'{t:.3f}s' for t in took)}")

        keys = [key for key, _ in sent]
        assert len(keys) == len(set(keys)), "a key reached the venue twice"
        entries = {e.idempotency_key: (name, e) for name, s in streams.items() for e in s.intents}
        for key, stream in sent:  # each dispatch was written ahead, in the stream that sent it
            assert entries[key][0] == stream
        for worker in [*workers, *standbys]:  # every result returned is stored, as returned
            for line in worker.lines:
                if line.startswith("RESULT "):
                    _, name, state, _duplicate = line.split()
                    _, entry = entries[intake.identify(intent(name))]
                    assert entry.result is not None, line
                    assert str(entry.result.pipeline_state) == state, line
        machines = builtin_machines()
        for name, state in streams.items():
            check = verify_trail(state.records, machines)
            assert check.ok, f"stream {name}: {check.problem}"
            orch = paper_orchestrator(
                store=PostgresStore(pg_url, stream=name), reconciliation=RECOVERY_ONLY
            )
            assert orch.get_position_ledger_snapshot() == {p.symbol: p for p in state.positions}
            orch.close()
        assert 0 < min(took) <= max(took) < TAKEOVER_BOUND


class TestTakeover:
    def test_a_standby_takes_over_a_sigkilled_owner_within_the_bound(self, pg_url: str) -> None:
        """The owner is SIGKILLed; its standby holds the stream and has recovered it within
        the bound (printed), then carries on: the interrupted work is never sent again."""
        owner = Worker(pg_url, "t", 1, 100_000)  # still at work when it is killed
        owner.wait_for("RECOVERED")
        owner.go()
        standby = Worker(pg_url, "t", 2, 5, wait=60)
        standby.go()
        standby.wait_for("WAITING")
        time.sleep(0.5)  # the standby has connected and waits on the lock
        assert owner.proc.poll() is None, "the owner ended before it was killed"
        killed = owner.kill()
        owned = float(standby.wait_for("OWNED").split()[1])
        recovered = float(standby.wait_for("RECOVERED").split()[1])
        owner.finish()
        standby.finish()
        sent = [key for key, _ in dispatches(pg_url)]
        lock, whole = owned - killed, recovered - killed
        print(f"takeover: lock {lock:.3f}s, lock + recovery {whole:.3f}s after SIGKILL")

        assert 0 < lock <= whole < TAKEOVER_BOUND
        assert len(sent) == len(set(sent))
        assert standby.lines[-1] == "DONE"


@pytest.fixture(autouse=True)
def _show_figures(capsys: pytest.CaptureFixture[str]) -> object:
    yield
    out = capsys.readouterr().out
    with capsys.disabled():
        for line in out.splitlines():
            if line.startswith("takeover"):
                print("\n" + line)
