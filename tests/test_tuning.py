"""Studies survive a killed worker and share one target between workers (SQLite, PostgreSQL)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from course_utils.tuning import studies as tuning

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "study_worker_script.py"

pytestmark = pytest.mark.timeout(300)


def worker(storage: str, name: str, trials: int, log: Path, step: float = 0.1):
    return subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            "--storage",
            storage,
            "--name",
            name,
            "--trials",
            str(trials),
            "--log",
            str(log),
            "--step-seconds",
            str(step),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )


def states(storage: str, name: str) -> dict[int, TrialState]:
    study = optuna.load_study(study_name=name, storage=storage)
    return {t.number: t.state for t in study.get_trials(deepcopy=False)}


def wait_for_line(log: Path, line: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and any(x.startswith(line) for x in log.read_text().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"{line!r} never appeared in {log}")


def test_a_killed_study_keeps_its_trials_and_resumes_to_its_target(tmp_path):
    storage, log = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "trials.log"
    first = worker(storage, "killed", 6, log, step=0.3)
    wait_for_line(log, "start 3 ")
    time.sleep(0.4)  # inside trial 3, after its first report
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = optuna.load_study(study_name="killed", storage=storage).get_trials()
    assert [t.state for t in before[:3]] == [
        s for s in (t.state for t in before[:3]) if s in tuning.FINISHED
    ]
    assert before[3].state == TrialState.RUNNING  # the killed one: not counted as finished

    time.sleep(2.5)  # past the grace period of its heartbeat
    second = worker(storage, "killed", 6, log)
    assert second.wait(timeout=120) == 0, second.stderr.read()
    after = optuna.load_study(study_name="killed", storage=storage).get_trials()
    assert after[3].state == TrialState.FAIL
    assert sum(t.state in tuning.FINISHED for t in after) == 6
    for old in before[:3]:  # what finished before the crash is still there, unchanged
        assert after[old.number].params == old.params and after[old.number].value == old.value

    third = worker(storage, "killed", 6, log)  # already at its target: runs nothing
    assert third.wait(timeout=60) == 0
    assert len(optuna.load_study(study_name="killed", storage=storage).get_trials()) == len(after)


def test_the_default_storage_is_a_file_in_studies_and_reopening_adds_to_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_STUDIES_DIR", str(tmp_path / "studies"))
    study = tuning.open_study("demo")
    assert (tmp_path / "studies" / "demo.db").is_file()
    assert tuning.optimize_until(study, lambda t: t.suggest_float("x", 0, 1), 3) == 3
    again = tuning.open_study("demo")
    assert len(tuning.finished_trials(again)) == 3
    assert tuning.optimize_until(again, lambda t: t.suggest_float("x", 0, 1), 5) == 2
    with pytest.raises(ValueError, match="not a database URL"):
        tuning.resolve_storage("demo", "studies/demo.db")


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not found or found[-1] is None:
        pytest.fail("PostgreSQL is not installed: `sudo apt-get install postgresql` (Debian).")
    return Path(found[-1]).parent


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def postgres_url():
    """A throw-away PostgreSQL server on a free loopback port; its URL for one database.

    Its folder is outside pytest's (which only root may enter) so that the ``postgres``
    user can own it when the tests run as root.
    """
    bin_dir, data = _postgres_bin(), Path(tempfile.mkdtemp(prefix="course-pg-"))
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*command: str) -> None:
        done = subprocess.run(_as_postgres_user(list(command)), capture_output=True, text=True)
        assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}{done.stderr}"

    pg_ctl = str(bin_dir / "pg_ctl")
    try:
        run(str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", user, "--auth=trust")
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
        run(pg_ctl, "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start")
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, "studies")
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/studies"
    finally:
        if (data / "db" / "postmaster.pid").exists():
            run(pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def test_two_workers_share_one_postgresql_study(postgres_url, tmp_path):
    log = tmp_path / "trials.log"
    tuning.open_study("shared", storage=postgres_url)  # created once, before both workers start
    workers = [worker(postgres_url, "shared", 8, log) for _ in range(2)]
    for w in workers:
        assert w.wait(timeout=180) == 0, w.stderr.read()
    found = states(postgres_url, "shared")
    numbers = sorted(found)
    assert numbers == list(range(len(numbers)))  # no duplicate or missing trial numbers
    assert all(state in tuning.FINISHED for state in found.values())  # none lost or left running
    assert 8 <= len(numbers) <= 9  # the target, plus at most one started by each other worker
    pids = {line.split()[2] for line in log.read_text().splitlines()}
    assert len(pids) == 2  # both workers ran trials
