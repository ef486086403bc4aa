"""Grading a class: every kind of bad submission (tests/classes.py), graded together in one batch.

Expected scores come from the chapter's test-cell points, never from a previous run.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from classes import (
    ANSWERS,
    LINKED,
    STUDENT_ANSWERS,
    CH,
    CHEATS,
    copy_class,
    HIDDEN_BEGIN,
    OPTIONS,
    POINTS,
    ROOT,
    TEST_POINTS,
    TOTAL,
    answered,
    course_snapshot,
    graded_with_jobs_2,
    nb_path,
    read_rows,
    snapshot,
    student_nb,
    write_nb,
)

from dlcourse import grading, notebooks
from dlcourse.grading import batch as grading_batch
from dlcourse.grading import execute as grading_execute
from dlcourse.grading import kernels as grading_kernels
from dlcourse.grading import preprocessors as grading_preprocessors
from dlcourse.grading import submission as grading_submission
from dlcourse.grading import task as grading_task

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


@pytest.fixture(scope="module")
def batch(tmp_path_factory, worker_id):
    return graded_with_jobs_2(tmp_path_factory, worker_id)


def row(batch, student):
    return batch["results"][student]


def test_every_submission_has_a_row_and_csv_matches(batch):
    expected = {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy", "mallory",
                "José", "李雷", "olga", "zoe", *CHEATS, *LINKED}
    assert set(batch["results"]) == expected
    with open(batch["out"] / "grades.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["student"] for r in rows} == expected
    assert set(POINTS) <= set(rows[0]), "grades.csv needs one column per exercise"
    for r in rows:
        assert r["status"] in grading.STATUSES
        assert float(r["score"]) == pytest.approx(sum(float(r[ex]) for ex in POINTS))


def test_correct_full_marks_and_stubs_zero(batch):
    alice, bob = row(batch, "alice"), row(batch, "bob")
    assert (alice.status, alice.score, alice.max_score) == ("graded", TOTAL, TOTAL)
    assert (bob.status, bob.score) == ("graded", 0)
    assert bob.failures["rel_error"].startswith("NotImplementedError")


def test_one_wrong_exercise_scores_exactly_the_others(batch):
    carol = row(batch, "carol")
    assert carol.status == "graded"
    assert carol.score == POINTS["rel_error"]
    assert carol.exercises["numerical_gradient"][0] == 0
    assert carol.failures["numerical_gradient"].startswith("AssertionError")


def test_edited_or_deleted_tests_are_restored(batch):
    dave = row(batch, "dave")
    assert dave.status == "graded" and dave.score == 0
    assert dave.max_score == TOTAL, "the deleted test cell must be put back and count"


def test_infinite_loop_times_out_but_the_rest_is_graded(batch):
    erin = row(batch, "erin")
    assert erin.status == "timeout"
    assert erin.score == POINTS["rel_error"]


def test_memory_hog_is_stopped(batch):
    frank = row(batch, "frank")
    assert frank.status in ("graded", "error", "timeout")  # touching gigabytes may outlast the cell's time limit
    if frank.status == "graded":  # the hog's own cell failed, the rest was graded
        assert frank.score == POINTS["rel_error"]
    else:  # the kernel died: whatever was graded before it, never more than the one good exercise
        assert frank.score <= POINTS["rel_error"], frank
    assert frank.exercises["numerical_gradient"][0] == 0


def test_unreadable_and_missing(batch):
    assert row(batch, "gina").status == "unreadable"
    assert row(batch, "hank").status == "unreadable"
    assert row(batch, "ivan").status == "missing"
    assert row(batch, "zoe").status == "missing"
    assert any("zoe: no chapter folder" in w for w in batch["warnings"])


def test_stderr_and_warnings_cost_nothing(batch):
    judy = row(batch, "judy")
    assert (judy.status, judy.score) == ("graded", TOTAL)


def test_non_ascii_names_and_duplicates(batch):
    assert any("two folders for student 'José'" in w for w in batch["warnings"])
    for name in ("José", "李雷"):
        assert (row(batch, name).status, row(batch, name).score) == ("graded", TOTAL)
        assert (batch["out"] / "feedback" / name / CH / f"{CH}.html").is_file()


def test_huge_output_is_cut_in_feedback(batch):
    olga = row(batch, "olga")
    assert (olga.status, olga.score) == ("graded", TOTAL)
    html = batch["out"] / "feedback" / "olga" / CH / f"{CH}.html"
    assert html.stat().st_size < 5_000_000
    assert "output cut" in html.read_text(encoding="utf-8")


def test_sandbox_hides_the_course_and_blocks_writes(batch):
    mallory = row(batch, "mallory")
    assert (mallory.status, mallory.score) == ("graded", TOTAL)
    html = (batch["out"] / "feedback" / "mallory" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert "SANDBOX-PROBE found=[]" in html, "student code could see solutions, hidden tests or the gradebook"
    wrote = re.search(r"SANDBOX-PROBE wrote=\[(.*?)\]", html.replace("&#39;", "'")).group(1)
    wrote = [w.strip(" '") for w in wrote.split(",") if w.strip()]
    # Inside the sandbox only its own folder and a private, throwaway /tmp are writable (a course
    # checked out under /tmp shows up there, in the sandbox's copy). Everything else must fail.
    assert all(w.startswith("/tmp/") for w in wrote), f"student code could write outside its folder: {wrote}"
    tag = batch["tag"]
    for target in [ROOT / f"pwned-{tag}", batch["subs"] / f"pwned-{tag}", Path("/work") / f"pwned-{tag}",
                   Path("/") / f"pwned-{tag}"]:
        assert not target.exists(), f"student code wrote {target}"


def test_parallel_kernels_share_the_cores(batch):
    """The batch ran with jobs=2: each kernel, inside its sandbox, was given half the cores' threads."""
    cores = len(os.sched_getaffinity(0))
    expected = [os.environ.get(v, str(max(1, cores // 2))) for v in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")]
    html = (batch["out"] / "feedback" / "mallory" / CH / f"{CH}.html").read_text(encoding="utf-8")
    seen = re.search(r"SANDBOX-PROBE threads=([\w-]+,[\w-]+)", html).group(1).split(",")  # the output, not the source
    assert seen == expected, (f"the kernel saw OMP_NUM_THREADS, TF_NUM_INTRAOP_THREADS = {seen}, expected {expected}: "
                              "is grading_task.share_cores the pool's initializer, and sandbox.THREAD_VARS passed to bwrap?")


def test_feedback_hides_hidden_tests(batch):
    hidden_line = "_rng = np.random.default_rng(1234)"  # from rel_error's hidden tests
    assert hidden_line in notebooks.solution_path(CH, ROOT).read_text()
    for student in ("alice", "bob", "carol", *CHEATS):
        html = (batch["out"] / "feedback" / student / CH / f"{CH}.html").read_text(encoding="utf-8")
        assert "default_rng(1234)" not in html and HIDDEN_BEGIN not in html, student


def test_originals_and_course_unchanged(batch):
    assert snapshot(batch["subs"]) == batch["before"], "a submission file was changed"
    assert course_snapshot() == batch["course_before"], "grading changed the course folder"


def test_jobs_1_and_2_give_the_same_grades_and_zip_input(batch, tmp_path):
    zpath = tmp_path / "class.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for student in ("alice", "carol", "bob"):
            src = batch["subs"] / student / CH / f"{CH}.ipynb"
            zf.write(src, f"export/{student}/{CH}/{CH}.ipynb")  # wrapped in one top folder, as LMS exports are
    serial, _ = grading.grade_class(zpath, tmp_path / "o1", jobs=1, **OPTIONS, progress=False)
    key = lambda rs: [(r.student, r.chapter, r.status, r.score, r.exercises) for r in rs]  # noqa: E731
    assert key(serial) == key(sorted((batch["results"][s] for s in ("alice", "bob", "carol")),
                                     key=lambda r: r.student))
    assert (tmp_path / "o1" / "grades.csv").read_text(encoding="utf-8").count("\n") == 4


# ---------------------------------------------------------------------------- one grader for a batch

#: Honest, stubs, wrong, hanging (a timeout), monkeypatching, leaking hidden inputs, printing junk.
REUSED = ("alice", "bob", "carol", "erin", "mona", "eve", "jack")


def _count_graders(monkeypatch) -> list:
    """The grader kernels started from now on (KernelPool._new), in a list."""
    graders, new = [], grading_kernels.KernelPool._new

    async def counted(self, role, chapter):
        kernel = await new(self, role, chapter)
        if role == "grader":
            graders.append(kernel)
        return kernel

    monkeypatch.setattr(grading_kernels.KernelPool, "_new", counted)
    return graders


def _grade_in_order(batch, students, folder: Path, root: Path = ROOT):
    """``students``' notebooks of the batch graded with --jobs 1 in this order (each named ``<i>-<name>``: the
    batch sorts by name); returns {name: (Result, its feedback with the id taken out)}."""
    for i, student in enumerate(students):
        write_nb(nb_path(folder / "subs", f"{i}-{student}"), nbformat.read(nb_path(batch["subs"], student), as_version=4))
    results, _ = grading.grade_class(folder / "subs", folder / "out", jobs=1, root=root, **OPTIONS, progress=False)
    out = {}
    for r in results:
        html = folder / "out" / "feedback" / r.student / CH / f"{CH}.html"
        out[r.student.split("-", 1)[1]] = (r, _anonymous(html.read_text(encoding="utf-8"), r.student))
    return out


def _anonymous(html: str, student: str) -> str:
    """A feedback file with its student's id (a whole word: "eve" is in the stylesheet's "level") taken out."""
    return re.sub(rf"(?<![\w-]){re.escape(student)}(?![\w-])", "STUDENT", html)


def test_one_grader_serves_a_batch_whose_grades_and_feedback_do_not_depend_on_its_order(batch, tmp_path, monkeypatch):
    """--jobs 1 keeps one grader kernel for the whole batch (KernelPool.give_back, after execute.GRADER_RESET).
    Graded in two opposite orders, each submission gets the grade and the messages, and (but jack, whose junk output
    is cut into blocks as its timing falls) the feedback byte for byte, that it got in the --jobs 2 batch, where it
    had other neighbours."""
    graders = _count_graders(monkeypatch)
    forward = _grade_in_order(batch, REUSED, tmp_path / "forward")
    assert len(graders) == 1, f"{len(graders)} grader kernels for {len(REUSED)} submissions: none was reused"
    backward = _grade_in_order(batch, REUSED[::-1], tmp_path / "backward")
    assert len(graders) == 2
    reference = batch["out"] / "feedback"
    for student in REUSED:
        want = batch["results"][student]
        for order, graded in (("forward", forward), ("backward", backward)):
            got, html = graded[student]
            assert (got.status, got.score, got.exercises, got.failures, got.shown) == (
                want.status, want.score, want.exercises, want.failures, want.shown), (order, student)
            if student == "jack":  # his junk comes in as many stream messages as timing makes: output blocks vary
                continue
            want_html = _anonymous((reference / student / CH / f"{CH}.html").read_text(encoding="utf-8"), student)
            assert html == want_html, f"{student}'s feedback differs when graded {order}"


def _probed_course(folder: Path) -> Path:
    """A copy of the course whose chapter 0 has a probe at the start of its first test cell: it fails if the
    grader kernel still holds what an earlier submission's tests left in it (a result of the student's function,
    bound to a name; the error of a failed test)."""
    shutil.copytree(ROOT / "autograde", folder / "autograde")
    for part in ("solutions", "notebooks"):  # the instructor's source, and the student version (its stubs)
        shutil.copytree(ROOT / part / CH, folder / part / CH)
    path = folder / "solutions" / CH / f"{CH}.ipynb"
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if notebooks.is_test_cell(c))
    first.source = (
        "import sys\n"
        "assert '_probe_returned' not in globals(), f'kept from an earlier submission: {_probe_returned!r}'\n"
        "assert getattr(sys, 'last_value', None) is None, f'kept from an earlier submission: {sys.last_value!r}'\n"
        "_probe_returned = rel_error(np.array([1.0]), np.array([3.0]))\n" + first.source)
    nbformat.write(nb, path)
    return folder


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "no reset (the probe's control)"])
def test_a_submission_s_results_are_gone_from_the_grader_before_the_next(batch, tmp_path, monkeypatch, reset):
    """carol (one exercise wrong: a test fails), then alice (right), through one grader kernel, in a course whose
    first test cell fails when the grader still holds what carol's tests left. alice gets full marks; with the
    reset between submissions turned off (the control), she loses that cell's points."""
    graders = _count_graders(monkeypatch)
    if not reset:
        async def no_reset(grader):
            return True
        monkeypatch.setattr(grading_execute.TwoKernelExecute, "_reset", staticmethod(no_reset))
    graded = _grade_in_order(batch, ("carol", "alice"), tmp_path, root=_probed_course(tmp_path / "course"))
    assert len(graders) == 1, "one grader kernel graded both"
    assert graded["carol"][0].score == POINTS["rel_error"], graded["carol"][0].failures
    alice = graded["alice"][0]
    if reset:
        assert alice.score == TOTAL, alice.failures
    else:
        assert alice.score == TOTAL - TEST_POINTS["test_rel_error_visible"], alice.failures
        assert "kept from an earlier submission" in alice.failures["rel_error"]


# ---------------------------------------------------------------------------- units (no grading run)


def test_a_batch_reads_each_chapter_s_exercises_once(tmp_path, monkeypatch):
    (tmp_path / "subs" / "amy" / CH).mkdir(parents=True)
    (tmp_path / "subs" / "amy" / CH / f"{CH}.ipynb").write_text("{}")  # a notebook that is none: unreadable
    (tmp_path / "subs" / "ben" / CH).mkdir(parents=True)  # a chapter folder without the notebook: missing
    read = []
    real = grading.ChapterSource.from_course
    monkeypatch.setattr(grading_batch.ChapterSource, "from_course",
                        classmethod(lambda cls, chapter, root: read.append(chapter) or real(chapter, root)))
    results, _ = grading.grade_class(tmp_path / "subs", tmp_path / "out", jobs=1, progress=False)
    assert [(r.student, r.status, r.max_score, r.exercises) for r in results] == [
        (s, status, TOTAL, {ex: (0.0, pts) for ex, pts in POINTS.items()})
        for s, status in (("amy", "unreadable"), ("ben", "missing"))]
    with open(tmp_path / "out" / "grades.csv", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["student", "chapter", "score", "max_score", "status", *POINTS, "submitted",
                                   "late_hours", "extension_hours", "penalty", "detail",
                                       "failures", "sha256"]
    assert read == [CH], "the chapter's source is read once for the whole batch"


def test_summary_counts_statuses_and_means():
    ex = {"a": (2.0, 2.0), "b": (0.0, 4.0)}
    results = [grading.Result("ann", CH, "graded", 2.0, 6.0, dict(ex)),
               grading.Result("bea", CH, "timeout", 6.0, 6.0, {"a": (2.0, 2.0), "b": (4.0, 4.0)},
                              detail="cell timed out after 20 s: test_b"),
               grading.Result("cy", CH, "graded", 2.0, 6.0, dict(ex)),
               grading.Result("dan", CH, "missing", 0.0, 6.0, {"a": (0.0, 2.0), "b": (0.0, 4.0)},
                              detail=f"no {CH}.ipynb")]
    assert grading.summary(results, ["a note"]).splitlines() == [
        "4 notebook(s): 2 graded, 1 timeout, 1 missing",
        f"  bea/{CH}: timeout (cell timed out after 20 s: test_b)",
        f"  dan/{CH}: missing (no {CH}.ipynb)",
        f"{CH}: mean 3.33 / 6",
        f"  {'a':<32}   2.00 / 2",
        f"  {'b':<32}   1.33 / 4",
        "note: a note"]
    assert grading.summary([]) == "0 notebook(s): "


EVIL = "ana\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[1;1H"  # OSC 52 (writes the clipboard), then CSI: clear, home


def test_the_summary_escapes_a_student_id_s_control_characters(tmp_path, monkeypatch, capsys):
    """Issue 27: a student id is a folder or LMS file name the student chose. In `dlcourse grade`'s summary (a row
    that is not a grade, a note quoting the id) an ESC sequence in it (OSC 52 sets the instructor's clipboard, CSI
    rewrites the screen) is printed escaped, never raw, and the id stays recognisable. Nothing is graded: the
    batch is a hand-made result."""
    from dlcourse import cli

    results = [grading.Result(EVIL, CH, "error", 0.0, TOTAL, {ex: (0.0, pts) for ex, pts in POINTS.items()},
                              detail=f"grading failed: OSError: {EVIL}/{CH}.ipynb")]
    notes = [f"{EVIL}: no chapter folder (expected {EVIL}/<chapter>/<chapter>.ipynb)"]
    monkeypatch.setattr(grading_batch, "grade_class", lambda *args, **kwargs: (results, notes))
    (tmp_path / "subs").mkdir()
    assert cli.main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--no-sandbox",
                     "--no-report"]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x07" not in printed, "a raw ESC or BEL reached the terminal"
    shown = r"ana\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x1b[1;1H"
    lines = printed.splitlines()
    assert f"  {shown}/{CH}: error (grading failed: OSError: {shown}/{CH}.ipynb)" in lines
    assert f"note: {shown}: no chapter folder (expected {shown}/<chapter>/<chapter>.ipynb)" in lines


# ---------------------------------------------------------------------------- cheats


@pytest.mark.parametrize("student, honest", [
    ("trent", "rel_error"),  # an input transformer: every later cell (tests included) would be `pass`
    ("astrid", "rel_error"),  # an AST transformer doing the same
    ("mona", "numerical_gradient"),  # monkeypatched assert_close, np.isclose, isinstance...; rel_error returns 0
    ("sybil", "rel_error"),  # a NumPy subclass whose differences are all zero
    ("kira", None),  # rel_error computed by TensorFlow, through the course's reference module
    ("ken", "rel_error"),  # numerical_gradient's cell imports TensorFlow
    ("oscar", "numerical_gradient"),  # rel_error calls os._exit: the kernel dies on every call
    ("pam", "rel_error numerical_gradient"),  # honest, but leaves a process running
    ("jack", "rel_error"),  # prints 1 MB of binary junk per call; numerical_gradient returns an object equal to all
    ("zed", "rel_error"),  # numerical_gradient zeroes its input, so that a reference made from it is zero too
    ("fay", None),  # stubs, a forged 50-point test cell and a rewritten given cell
    ("kay", "rel_error numerical_gradient"),  # honest, but stores and reads back every call's inputs in the keyring
])
def test_a_cheat_earns_exactly_its_honest_part(batch, student, honest):
    r = row(batch, student)
    expected = sum(POINTS[ex] for ex in (honest or "").split())
    assert (r.score, r.max_score) == (expected, TOTAL), (r, r.failures)
    assert r.status in ("graded", "timeout"), r  # timeout: a cheat that hangs its own kernel waits out a cell


def test_the_hidden_tests_inputs_never_reach_the_feedback(batch):
    """eve prints hidden inputs, raises with them, and prints them again in a later exercise's visible call."""
    eve = row(batch, "eve")
    assert eve.score == TOTAL - TEST_POINTS["test_rel_error_hidden"], eve.failures
    assert "LEAK-RAISE" in eve.failures["rel_error"], "the instructor's grades.csv keeps the whole message"
    assert eve.shown["rel_error"] == grading_preprocessors.HIDDEN_FAILED, "dlcourse check prints what the feedback shows"
    assert "LEAK-RAISE" not in grading_submission.self_check_table(eve)
    html = (batch["out"] / "feedback" / "eve" / CH / f"{CH}.html").read_text(encoding="utf-8")
    for marker in ("LEAK-PRINT", "LEAK-RAISE", "SNOOP-HIDDEN"):
        assert marker not in html, f"{marker}: what the student's code made of hidden inputs reached the feedback"
    assert grading_preprocessors.HIDDEN_FAILED in html, "the feedback says that a hidden test failed"
    assert "PRERUN" in html, "the answer cells' own output is kept (a pre_run_cell hook sees only answer cells)"


def test_graded_answers_run_without_tensorflow(batch):
    message = "graded answers run without TensorFlow: write it in NumPy"
    assert message in row(batch, "kira").failures["rel_error"]
    assert message in row(batch, "ken").failures["numerical_gradient"]


def test_messages_name_what_went_wrong(batch):
    assert "changed its input `x` in place" in row(batch, "zed").failures["numerical_gradient"]
    assert "AlwaysEqual" in row(batch, "jack").failures["numerical_gradient"]
    assert "died" in row(batch, "oscar").failures["rel_error"]


def test_no_process_outlives_the_batch(batch):
    html = (batch["out"] / "feedback" / "pam" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert "spawned sleep 613.25, running: True" in html, "the student's process was started (else nothing is tested)"
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and b"613.25" in _cmdline(p)]
    assert not left, "a process the student's code started is still running"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_local_pool_resumes(jobs2, tmp_path):
    """The --jobs 2 batch's output folder, run again: nothing is graded but its error rows; then one
    changed submission is graded again, and only it."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    copy_class(jobs2["subs"], subs)
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
    # a one-student re-grade into the class's folder: amy's row, outside this run, is still named
    alone = tmp_path / "ben-only"
    (alone / "ben" / CH).mkdir(parents=True)
    nb_path(alone, "ben").write_text("still not a notebook")
    results, notes = grading.grade_class(alone, out, jobs=1, progress=False)
    assert [r.student for r in results] == ["ben"]
    assert [n for n in notes if "since 1 kept" in n and "whole class" in n], notes
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
    monkeypatch.setenv(grading_task.CRASH_VAR, "pete")
    results, _ = grading.grade_class(subs, out, jobs=2, progress=False)
    assert [(r.student, r.status) for r in results] == [("amy", "unreadable"), ("ben", "unreadable"), ("pete", "error")]
    assert "graded alone" in results[-1].detail
    assert [r["student"] for r in read_rows(out)] == ["amy", "ben", "pete"]


@pytest.mark.parametrize("student, why", [("linus", "symbolic link"), ("lena", "symbolic link"),
                                          ("dirk", "symbolic link"), ("hardy", "hard link")])
def test_a_linked_notebook_is_not_read(batch, student, why):
    """A link to the solution or to another student's notebook would grade that file, and hand its code to the
    linking student's feedback and answers/: it is an unreadable row that says why, and nothing is written."""
    r = row(batch, student)
    assert (r.status, r.score) == ("unreadable", 0), r
    assert why in r.detail, r.detail
    assert not (batch["out"] / "answers" / student).exists()
    page = (batch["out"] / "feedback" / student / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert why in page, "the student's feedback says why, and holds nothing of the linked notebook"
    solution_only = [ln.strip() for code in ANSWERS.values() for ln in code.splitlines()
                     if len(ln.strip()) > 20 and ln.strip() not in "".join(STUDENT_ANSWERS.values())]
    assert solution_only and not [ln for ln in solution_only if ln in page]


def test_the_keyring_carries_nothing(batch):
    """kay stored each call's inputs in the kernel keyring and printed what it found: nothing comes back."""
    html = (batch["out"] / "feedback" / "kay" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert "LEAK-KEY-FOUND" not in html


def test_feedback_tracebacks_end_at_the_student_s_line(batch):
    """bob's stubs raise in his own kernel: his feedback names his line, and shows no grader frame or host path."""
    html = (batch["out"] / "feedback" / "bob" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert "of your cell" in html and "raise NotImplementedError()" in html
    for host in ("proxy.py", "dlcourse/grading", "site-packages", str(ROOT)):
        assert host not in html, host


@pytest.mark.skipif(os.geteuid() != 0, reason="the cgroup bound is a root grader's")
def test_the_summary_says_which_memory_bound_is_in_force(batch):
    assert any("limits of a student kernel" in w and "a cgroup per kernel" in w for w in batch["warnings"]), \
        batch["warnings"]
