"""``dlcourse grade --cluster`` on a real Dask cluster, and resume (with the cluster and the local pool).

The fixture starts ``dask scheduler`` and two ``dask worker`` processes (one thread each, with Dask's
nanny, which restarts a worker that dies) on 127.0.0.1. The scheduler gives a task up after
``allowed-failures`` = 1 retry (Dask's default is 3), so a poison submission costs two worker deaths.
The workers have the test hook ``batch.CRASH_VAR`` set: grading student ``pete`` kills the worker
process, as a submission that crashes its machine would.

The adversarial class of tests/classes.py is graded once through the CLI, and hurt on the way: a worker
is SIGKILLed while it grades, then the client itself is SIGKILLed before it wrote grades.csv, and the
same command is run again. Its rows must be the ``--jobs 2`` rows (tests/grading/test_batch.py's batch).
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from classes import (
    ANSWERS,
    CH,
    LINKED,
    OPTIONS,
    POINTS,
    TOTAL,
    answered,
    copy_class,
    nb_path,
    once,
    read_rows,
    student_nb,
    write_adversarial_class,
    write_nb,
)

from dlcourse.grading import cluster as grading_cluster
from dlcourse.grading import task as grading_task

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")
DASK = Path(sys.executable).with_name("dask")
WAIT = 600  # seconds: a bound for waiting on grading, never a timed assertion


def wait_for(condition, what: str, timeout: float = WAIT, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting {timeout:g} s for {what}")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process we started and its children (its own session)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")  # under xdist, one per worker that runs a test needing it
def dask_cluster(tmp_path_factory):
    """A scheduler and two workers on 127.0.0.1 (random ports); yields (scheduler file, a Client)."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
           grading_task.CRASH_VAR: "pete"}
    logs = []

    def start(name, *args):
        log = open(folder / f"{name}.log", "w")
        logs.append(log)
        return subprocess.Popen([str(DASK), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)

    procs = [start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--scheduler-file", str(scheduler_file))]
    try:
        wait_for(scheduler_file.is_file, "the scheduler file", timeout=120)
        for i in (1, 2):
            procs.append(start(f"worker{i}", "worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
                               "--nthreads", "1", "--no-dashboard", "--local-directory", str(folder / f"w{i}")))
        client = Client(scheduler_file=str(scheduler_file), timeout=60)
        client.wait_for_workers(2, timeout=180)
        yield {"file": str(scheduler_file), "client": client, "folder": folder}
        client.close()
    finally:
        for proc in reversed(procs):
            stop(proc)
        for log in logs:
            log.close()


def grade_cmd(subs: Path, out: Path, cluster: str, *more: str) -> list[str]:
    return [sys.executable, "-m", "dlcourse.cli", "grade", str(subs), "--out", str(out), "--cluster", cluster,
            "--timeout", str(OPTIONS["timeout"]), "--memory", str(OPTIONS["memory_gb"]), *more]


def grade(subs: Path, out: Path, cluster: str, *more: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(grade_cmd(subs, out, cluster, *more), capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def graded_count(stdout: str) -> int:
    """How many notebooks a run graded, from the summary's first line ("N notebook(s): ...")."""
    first = next(line for line in stdout.splitlines() if " notebook(s): " in line)
    return int(first.split()[0])


def worker_pids(client) -> dict:
    return client.run(os.getpid)


def grading_worker(client, pids: dict) -> int | None:
    """The pid of a worker that has a task of the batch and kernels running, if there is one."""
    for address, keys in client.processing().items():
        if keys and kernels_of(pids.get(address, -1)):
            return pids[address]
    return None


def kernel_processes(pid: int) -> list:
    """The processes of the kernels a worker started (launchers, bwrap and kernels), as psutil objects."""
    try:
        return [p for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def alive(processes) -> list[int]:
    """The pids of those of ``processes`` still running (zombies are not)."""
    def running(p):
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False
    return [p.pid for p in processes if running(p)]


def kernels_of(pid: int) -> list[str]:
    """The command lines of the kernels a worker process started (the student kernel runs
    ``python -m dlcourse.sandbox``, the grader's ``python -m dlcourse.sandbox --plain``)."""
    try:
        return [" ".join(p.cmdline()) for p in psutil.Process(pid).children(recursive=True)
                if any(k in " ".join(p.cmdline()) for k in ("dlcourse.sandbox", "ipykernel_launcher"))]
    except psutil.Error:  # a process ended while we looked
        return []


def journal_rows(out: Path) -> int:
    path = out / ".dlcourse" / "rows.jsonl"
    return path.read_text(encoding="utf-8").count("\n") if path.is_file() else 0


@pytest.fixture(scope="session")
def cluster_class(dask_cluster, tmp_path_factory, worker_id):
    """The class graded on the cluster once per session (under xdist, on the first worker that asks)."""
    return once(tmp_path_factory, worker_id, "cluster-class", lambda folder: grade_on_cluster(dask_cluster, folder))


def grade_on_cluster(dask_cluster, folder: Path) -> dict:
    """The adversarial class graded on the cluster, through everything that can go wrong on the way."""
    client = dask_cluster["client"]
    subs, out = folder / "submissions", folder / "out"
    students = write_adversarial_class(subs)
    first = subprocess.Popen(grade_cmd(subs, out, dask_cluster["file"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        # A worker that the scheduler has given a task and that has started kernels is grading: SIGKILL it then.
        before = worker_pids(client)
        victim = wait_for(lambda: grading_worker(client, before) or first.poll() is not None, "a worker grading")
        assert first.poll() is None, f"the client ended before a worker was killed: {first.communicate()[1][-3000:]}"
        orphans = kernel_processes(victim)
        os.kill(victim, signal.SIGKILL)
        deadline, left = time.monotonic() + 60, alive(orphans)
        while left and time.monotonic() < deadline:  # they end within a second or two
            time.sleep(0.5)
            left = alive(orphans)
        # Then the client dies too, once it has written a few rows, before it rewrote grades.csv.
        wait_for(lambda: journal_rows(out) >= 5 or first.poll() is not None, "5 rows in the journal")
        assert first.poll() is None, f"the client ended before it was killed: {first.communicate()[1][-3000:]}"
        first.send_signal(signal.SIGKILL)
        first.communicate()
    finally:
        stop(first)
    interrupted = {"rows": journal_rows(out), "csv_written": (out / "grades.csv").exists()}
    second = grade(subs, out, dask_cluster["file"])
    client.wait_for_workers(2, timeout=180)
    return {"subs": subs, "out": out, "students": students, "victim": victim, "orphans": len(orphans),
            "kernels_left": left,
            "workers_before": before, "workers_after": worker_pids(client), "interrupted": interrupted,
            "second": second, "rows": read_rows(out)}


def test_cluster_rows_are_the_jobs_2_rows(cluster_class, jobs2):
    rows = cluster_class["rows"]
    assert sorted(r["student"] for r in rows) == sorted(cluster_class["students"]), "one row per student, once each"
    for r in rows:
        local = jobs2["results"][r["student"]]
        assert (float(r["score"]), float(r["max_score"])) == (local.score, local.max_score), r
        if r["student"] == "frank":  # the memory hog: touching gigabytes may or may not outlast its cell's time limit
            assert {r["status"], local.status} <= {"graded", "error", "timeout"}, r  # test_batch's rule for it
        else:
            assert r["status"] == local.status, r
        assert {ex: float(r[ex]) for ex in POINTS} == {ex: s for ex, (s, _) in local.exercises.items()}, r
        feedback = cluster_class["out"] / "feedback" / r["student"] / CH / f"{CH}.html"
        # a grade, or a page that says why there is none (an unreadable or failed notebook); a missing one has none
        assert feedback.is_file() == (r["status"] != "missing"), f"{r['student']}: {r['status']}, feedback?"


def test_a_worker_killed_while_grading_loses_nothing(cluster_class):
    before, after = cluster_class["workers_before"], cluster_class["workers_after"]
    assert cluster_class["victim"] not in after.values() and len(after) == 2, "Dask's nanny replaced the worker"
    assert cluster_class["orphans"] >= 1, "the worker was killed while it had kernels (some may be starting)"
    assert cluster_class["kernels_left"] == [], "a killed worker's kernels end with it (PR_SET_PDEATHSIG)"
    assert not [r for r in cluster_class["rows"] if r["status"] == "error" and "died" in r["detail"]], \
        "a task of the killed worker was given up instead of graded again"
    assert len(before) == 2


def test_a_client_killed_mid_batch_resumes_from_its_journal(cluster_class):
    interrupted, second = cluster_class["interrupted"], cluster_class["second"]
    assert not interrupted["csv_written"], "the client was killed before it wrote grades.csv"
    kept = interrupted["rows"]
    assert 5 <= kept < len(cluster_class["students"])
    assert f"resumed: kept {kept} row(s)" in second.stdout
    assert graded_count(second.stdout) == len(cluster_class["students"]) - kept
    assert not (cluster_class["out"] / ".dlcourse" / "rows.jsonl").exists(), "the journal is gone once grades.csv is"


def test_rows_carry_the_notebook_s_sha256(cluster_class):
    for r in cluster_class["rows"]:
        path = nb_path(cluster_class["subs"], r["student"])
        read = path.is_file() and r["student"] not in LINKED  # a linked notebook is not read: no sha256
        expected = hashlib.sha256(path.read_bytes()).hexdigest() if read else ""
        assert r["sha256"] == expected, r["student"]
    with open(cluster_class["out"] / "grades.csv", newline="", encoding="utf-8") as f:
        assert next(csv.reader(f))[-1] == "sha256"


def test_worker_kernels_get_their_share_of_the_cores(cluster_class):
    """Two one-thread workers on one machine: each kernel gets half the cores, NumPy's and TensorFlow's
    threads alike (Dask's nanny sets OMP_NUM_THREADS=1 in its workers: the kernels get their share)."""
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    expected = [share, share]
    html = (cluster_class["out"] / "feedback" / "mallory" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert f"SANDBOX-PROBE threads={','.join(expected)}" in html


def test_a_second_run_grades_nothing_and_a_changed_submission_again(cluster_class, dask_cluster, tmp_path):
    subs, out = tmp_path / "submissions", tmp_path / "out"  # a copy: other tests read the class's folders
    copy_class(cluster_class["subs"], subs)
    shutil.copytree(cluster_class["out"], out)
    errors = [r["student"] for r in cluster_class["rows"] if r["status"] == "error"]
    csv_before = (out / "grades.csv").read_bytes()
    again = grade(subs, out, dask_cluster["file"])
    assert graded_count(again.stdout) == len(errors), "only error rows (perhaps transient) are graded again"
    if not errors:
        assert (out / "grades.csv").read_bytes() == csv_before
    rows_before = {r["student"]: r for r in read_rows(out)}

    write_nb(nb_path(subs, "bob"), answered(student_nb()))  # bob hands in the right answers
    changed = grade(subs, out, dask_cluster["file"])
    assert graded_count(changed.stdout) == 1 + len(errors)
    rows = {r["student"]: r for r in read_rows(out)}
    assert (rows["bob"]["status"], float(rows["bob"]["score"])) == ("graded", TOTAL)
    assert rows["bob"]["sha256"] == hashlib.sha256(nb_path(subs, "bob").read_bytes()).hexdigest()
    assert {s: r for s, r in rows.items() if s not in ("bob", *errors)} == \
        {s: r for s, r in rows_before.items() if s not in ("bob", *errors)}, "every other row is kept as it was"


def test_a_poison_submission_becomes_an_error_row(dask_cluster, tmp_path):
    """pete's task kills every worker it lands on: after allowed-failures + 1 deaths, an error row."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_nb(nb_path(subs, "pete"), answered(student_nb()))
    (subs / "ivan" / CH).mkdir(parents=True)  # missing: the batch goes on around pete
    proc = grade(subs, out, dask_cluster["file"])
    rows = {r["student"]: r for r in read_rows(out)}
    assert rows["pete"]["status"] == "error" and "died 2 times" in rows["pete"]["detail"], rows["pete"]
    assert rows["ivan"]["status"] == "missing"
    assert "pete/ch00_start: error" in proc.stdout
    dask_cluster["client"].wait_for_workers(2, timeout=180)  # the nanny brings the workers back


PROBE = """
import json, socket
_address = json.loads({info!r})["address"]  # the worst case: the student knows the scheduler's address
_host, _port = _address.rsplit("/", 1)[-1].rsplit(":", 1)
try:
    socket.create_connection((_host, int(_port)), timeout=5).close()
    print("DASK" + "-PROBE reached", _address)  # markers made at run time: the feedback shows the code too
except OSError as err:
    print("DASK" + "-PROBE refused:", type(err).__name__)
"""


def test_student_code_cannot_reach_the_scheduler(dask_cluster, tmp_path):
    """A Dask scheduler runs whatever it is sent, on every worker: a student's code that reached it could
    replace the grading code there. The sandbox has no network (bwrap --unshare-net), so it cannot."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    info = Path(dask_cluster["file"]).read_text()
    write_nb(nb_path(subs, "dora"), answered(student_nb(), rel_error=PROBE.format(info=info) + ANSWERS["rel_error"]))
    grade(subs, out, dask_cluster["file"], "--no-report")
    html = (out / "feedback" / "dora" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert "DASK-PROBE refused" in html and "DASK-PROBE reached" not in html
    assert {r["student"]: float(r["score"]) for r in read_rows(out)} == {"dora": TOTAL}


def test_an_unreachable_scheduler_is_one_clear_line(tmp_path):
    with socket.socket() as s:  # a free port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_nb(nb_path(tmp_path / "subs", "amy"), student_nb())
    for target, says in ((f"tcp://127.0.0.1:{port}", "cannot reach the Dask scheduler"),
                         (str(tmp_path / "nope.json"), "no scheduler file")):
        proc = subprocess.run(grade_cmd(tmp_path / "subs", tmp_path / "out", target), capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0] and "dask scheduler" in lines[0], proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


# ---------------------------------------------------------------------------- units (no grading run)


def test_worker_problems_say_what_to_do():
    ok = {"code": "c", "package": "/x", "bwrap": True}
    facts = {"tcp://a:1": ModuleNotFoundError("No module named 'dlcourse'"), "tcp://b:1": {**ok, "bwrap": False},
             "tcp://c:1": {**ok, "code": "other"}, "tcp://d:1": ok, "tcp://e:1": ok}
    problems = grading_cluster.worker_problems(facts, {"tcp://d:1": 1, "tcp://e:1": 4}, "c", sandbox=True)
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    assert "cannot run dlcourse" in problems[0] and "pip install ." in problems[0]
    assert "no bwrap" in problems[1] and "apt-get install bubblewrap" in problems[1]
    assert "other grading code" in problems[2]
    assert "tcp://e:1 runs 4 threads" in problems[3] and "--nthreads 1" in problems[3]
    assert grading_cluster.worker_problems({"tcp://b:1": {**ok, "bwrap": False}}, {}, "c", sandbox=False) == []
