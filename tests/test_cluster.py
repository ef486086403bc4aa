"""``dlcourse grade --cluster`` on a real Dask cluster, and resume (with the cluster and the local pool).

The fixture starts ``dask scheduler`` and two ``dask worker`` processes (one thread each, with Dask's
nanny, which restarts a worker that dies) on 127.0.0.1. The scheduler gives a task up after
``allowed-failures`` = 1 retry (Dask's default is 3), so a poison submission costs two worker deaths.
The workers have the test hook ``batch.CRASH_VAR`` set: grading student ``pete`` kills the worker
process, as a submission that crashes its machine would.

The adversarial class of tests/classes.py is graded once through the CLI, and hurt on the way: a worker
is SIGKILLed while it grades, then the client itself is SIGKILLed before it wrote grades.csv, and the
same command is run again. Its rows must be the ``--jobs 2`` rows (tests/test_grading.py's batch).
"""

from __future__ import annotations

import csv
import hashlib
import json
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
from classes import (ANSWERS, CH, OPTIONS, POINTS, TOTAL, answered, graded_with_jobs_2, nb_path, once, student_nb,
                     write_adversarial_class, write_nb)

from dlcourse import grading
from dlcourse.grading import batch as grading_batch, cluster as grading_cluster, grades

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
           grading_batch.CRASH_VAR: "pete"}
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


def read_rows(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


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
    ``python -m dlcourse.sandbox``, a plain one ``ipykernel_launcher``)."""
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


@pytest.fixture(scope="module")
def jobs2(tmp_path_factory, worker_id):
    return graded_with_jobs_2(tmp_path_factory, worker_id)


def test_cluster_rows_are_the_jobs_2_rows(cluster_class, jobs2):
    rows = cluster_class["rows"]
    assert sorted(r["student"] for r in rows) == sorted(cluster_class["students"]), "one row per student, once each"
    for r in rows:
        local = jobs2["results"][r["student"]]
        assert (float(r["score"]), float(r["max_score"]), r["status"]) == (local.score, local.max_score, local.status), r
        assert {ex: float(r[ex]) for ex in POINTS} == {ex: s for ex, (s, _) in local.exercises.items()}, r
        graded = r["status"] in ("graded", "timeout")
        feedback = cluster_class["out"] / "feedback" / r["student"] / CH / f"{CH}.html"
        assert feedback.is_file() == graded, f"{r['student']}: feedback written only for graded notebooks"


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
        expected = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
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
    shutil.copytree(cluster_class["subs"], subs)  # copies keep mtimes: the same José is graded
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


def test_local_pool_resumes(jobs2, tmp_path):
    """The --jobs 2 batch's output folder, run again: nothing is graded but its error rows; then one
    changed submission is graded again, and only it."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    shutil.copytree(jobs2["subs"], subs)  # copies keep mtimes: the same José is graded
    shutil.copytree(jobs2["out"], out)
    errors = sorted(s for s, r in jobs2["results"].items() if r.status == "error")
    results, notes = grading.grade_class(subs, out, jobs=2, **OPTIONS, progress=False)
    assert sorted(r.student for r in results) == errors
    write_nb(nb_path(subs, "carol"), answered(student_nb()))  # carol fixes her forward difference
    results, _ = grading.grade_class(subs, out, jobs=2, **OPTIONS, progress=False)
    assert sorted(r.student for r in results) == sorted(["carol", *errors])
    rows = {r["student"]: r for r in read_rows(out)}
    assert (rows["carol"]["status"], float(rows["carol"]["score"])) == ("graded", TOTAL)
    assert float(rows["alice"]["score"]) == TOTAL and rows["erin"]["status"] == "timeout", "kept rows stay"


def test_force_grades_everything_again(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "amy" / CH).mkdir(parents=True)  # missing
    (subs / "ben" / CH).mkdir(parents=True)
    nb_path(subs, "ben").write_text("not a notebook")  # unreadable: no kernel needed, so this test is fast
    assert len(grading.grade_class(subs, out, jobs=1, progress=False)[0]) == 2
    assert grading.grade_class(subs, out, jobs=1, progress=False)[0] == []
    assert len(grading.grade_class(subs, out, jobs=1, force=True, progress=False)[0]) == 2


def test_resume_notes_a_chapter_whose_tests_changed(tmp_path):
    """Resume compares notebooks, not tests: kept rows graded with another instructor source are named, on
    every run until they are graded again, even when other rows of the chapter are graded meanwhile."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student in ("amy", "ben"):
        (subs / student / CH).mkdir(parents=True)
        nb_path(subs, student).write_text("not a notebook")  # unreadable: no kernel needed
    grading.grade_class(subs, out, jobs=1, progress=False)
    _, notes = grading.grade_class(subs, out, jobs=1, progress=False)
    assert not [n for n in notes if "changed since" in n]
    recorded = out / ".dlcourse" / "sources.json"
    sources = json.loads(recorded.read_text())
    recorded.write_text(json.dumps({c: {s: "0" + d for s, d in rows.items()} for c, rows in sources.items()}))
    csv_path = out / "grades.csv"
    csv_path.write_text(csv_path.read_text().replace("ben,ch00_start,0,6,unreadable", "ben,ch00_start,0,6,error"))
    for run in (1, 2):  # ben's error row is graded again (with today's source); amy's stays the older one's
        results, notes = grading.grade_class(subs, out, jobs=1, progress=False)
        assert [r.student for r in results] == (["ben"] if run == 1 else []), run
        assert [n for n in notes if n.startswith(f"{CH}: the instructor's notebook") and "since 1 kept" in n
                and "--force" in n], (run, notes)
    grading.grade_class(subs, out, jobs=1, force=True, progress=False)
    _, notes = grading.grade_class(subs, out, jobs=1, progress=False)
    assert not [n for n in notes if "changed since" in n]


def test_local_pool_grades_a_submission_that_kills_its_process_alone(tmp_path, monkeypatch):
    """pete's grading process dies (the test hook): a process pool loses every task in flight then. Each is
    graded again alone; only pete's dies again, and only pete gets an error row."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student in ("amy", "ben", "pete"):
        (subs / student / CH).mkdir(parents=True)
        nb_path(subs, student).write_text("not a notebook")  # unreadable: no kernel needed
    monkeypatch.setenv(grading_batch.CRASH_VAR, "pete")
    results, _ = grading.grade_class(subs, out, jobs=2, progress=False)
    assert [(r.student, r.status) for r in results] == [("amy", "unreadable"), ("ben", "unreadable"), ("pete", "error")]
    assert "graded alone" in results[-1].detail
    assert [r["student"] for r in read_rows(out)] == ["amy", "ben", "pete"]


# ---------------------------------------------------------------------------- units (no grading run)


def row(student, status="graded", sha="a", chapter=CH, score="1"):
    return {"student": student, "chapter": chapter, "score": score, "max_score": "6", "status": status,
            "detail": "", "sha256": sha}


@pytest.mark.parametrize("previous, sha, force, grade", [
    (None, "a", False, True),  # no row
    (row("ann"), "a", False, False),  # unchanged
    (row("ann"), "b", False, True),  # changed
    (row("ann", status="error"), "a", False, True),  # an error may be transient
    (row("ann", status="timeout"), "a", False, False),  # a timeout is a grade
    (row("ann", status="missing", sha=""), "", False, False),  # still missing
    (row("ann", status="missing", sha=""), "c", False, True),  # handed in since
    (row("ann"), "a", True, True),  # --force
])
def test_resume_grades_what_is_new_changed_or_an_error(previous, sha, force, grade):
    item = grades.Item("ann", CH, None, sha)
    assert grades.needs_grading(item, previous, force) is grade


def test_grades_csv_is_replaced_atomically_and_the_journal_survives_a_torn_line(tmp_path):
    path = tmp_path / "grades.csv"
    grades.write_grades_csv([row("ann"), row("ben")], path, [])
    grades.write_grades_csv([row("cy")], path, ["rel_error"])
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"], "no temporary file left"
    assert [r["student"] for r in grades.read_grades_csv(path)] == ["cy"]
    assert grades.read_grades_csv_header(path) == [*grades.FIRST_COLUMNS, "rel_error", *grades.LAST_COLUMNS]
    journal = grades.Journal(tmp_path)
    with journal as book:
        book.append(row("ann"))
        book.append(row("ben"))
    with open(journal.path, "a") as f:
        f.write('{"student": "cy", "chap')  # the client died mid-line
    assert [r["student"] for r in journal.read()] == ["ann", "ben"]
    with journal as book:  # the next run appends after it
        book.append({**row("dan"), "detail": "a line\u2028separator"})  # str.splitlines() would split there
    assert [r["student"] for r in journal.read()] == ["ann", "ben", "dan"]


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


@pytest.mark.parametrize("parent_alive", [True, False])
def test_a_kernel_launcher_whose_grading_process_is_gone_exits(parent_alive):
    """The student kernel's launcher asks to be killed with the grading process (PR_SET_PDEATHSIG); had that
    process died while the launcher started (a worker SIGKILLed as it started spare kernels), no signal
    would come, so the launcher checks the pid jupyter_client gave it (JPY_PARENT_PID) and exits."""
    code = "from dlcourse import sandbox; sandbox._die_with_parent(); print('went on')"
    parent = os.getpid() if parent_alive else 1  # 1: not our parent, as if ours had died and init adopted us
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "JPY_PARENT_PID": str(parent)},
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, "went on" in proc.stdout) == ((0, True) if parent_alive else (1, False)), proc
