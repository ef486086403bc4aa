"""Grading a class: every kind of bad submission (tests/classes.py), graded together in one batch.

Expected scores come from the chapter's test-cell points, never from a previous run.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import nbformat
import pytest
from classes import (CH, CHEATS, HIDDEN_BEGIN, OPTIONS, POINTS, ROOT, TEST_POINTS, TOTAL, answered, course_snapshot,
                     graded_with_jobs_2, snapshot, student_nb)

from dlcourse import grading, notebooks
from dlcourse.grading import batch as grading_batch, intake as grading_intake, submission as grading_submission

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


@pytest.fixture(scope="module")
def batch(tmp_path_factory, worker_id):
    return graded_with_jobs_2(tmp_path_factory, worker_id)


def row(batch, student):
    return batch["results"][student]


def test_every_submission_has_a_row_and_csv_matches(batch):
    expected = {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy", "mallory",
                "José", "李雷", "olga", "zoe", *CHEATS}
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
                              "is grading_batch._share_cores the pool's initializer, and sandbox.THREAD_VARS passed to bwrap?")


def test_share_cores_keeps_what_the_instructor_set(monkeypatch):
    for var in grading.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    grading_batch._share_cores(3)
    assert os.environ["OMP_NUM_THREADS"] == "7"
    assert all(os.environ[v] == "2" for v in grading.THREAD_VARS if v != "OMP_NUM_THREADS"), "8 cores // 3 jobs = 2"
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.delenv("MKL_NUM_THREADS")
    grading_batch._share_cores(4)
    assert os.environ["MKL_NUM_THREADS"] == "1", "at least one thread per kernel"


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


def test_cli_check_prints_a_table_and_exits_0(tmp_path):
    nb = tmp_path / f"{CH}.ipynb"
    nbformat.write(answered(student_nb(), numerical_gradient="def numerical_gradient(f, x, h=1e-5):\n    return x\n"), nb)
    proc = subprocess.run([sys.executable, "-m", "dlcourse.cli", "check", str(nb)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"{POINTS['rel_error']:g} / {TOTAL:g} points" in proc.stdout
    lines = {ln.split()[0]: ln for ln in proc.stdout.splitlines() if ln.startswith("  ") and len(ln.split()) > 1}
    assert "passed" in lines["rel_error"] and "FAILED" in lines["numerical_gradient"]
    assert "AssertionError" in lines["numerical_gradient"] or "shape" in lines["numerical_gradient"]


def test_cli_grade_rejects_bad_arguments(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "dlcourse.cli", "grade", str(tmp_path / "nope"), "--out",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such folder" in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "dlcourse.cli", "grade", str(tmp_path), "--out", str(tmp_path / "o"),
                          "--chapter", "ch99"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown chapter" in bad.stderr


# ---------------------------------------------------------------------------- units (no grading run)


def test_safe_extract_refuses_paths_outside_and_reports_duplicates(tmp_path, recwarn):
    dest = tmp_path / "zips" / "dest"
    dest.mkdir(parents=True)
    outside = tmp_path / f"abs-{uuid.uuid4().hex[:8]}.txt"
    unsafe = ["../evil.txt", "a/../../evil2.txt", str(outside), f"{dest}/inside-but-absolute.txt", ".",
              "export/alice/../bob/back-and-forth.ipynb"]
    zpath = tmp_path / "class.zip"
    with zipfile.ZipFile(zpath, "w") as zf:  # zipfile warns about the duplicate name: recwarn takes it
        zf.writestr("export/alice/", "")
        zf.writestr("export/alice/nb.ipynb", "first")
        for name in unsafe:
            zf.writestr(name, "x")
        zf.writestr("export/bob/nb.ipynb", "bob's")
        zf.writestr("export/alice/nb.ipynb", "second")

    notes = grading_intake._safe_extract(zpath, dest)

    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == [
        "export", "export/alice", "export/alice/nb.ipynb", "export/bob", "export/bob/nb.ipynb"]
    assert (dest / "export/alice/nb.ipynb").read_text() == "second", "the last of two entries is the one graded"
    assert (dest / "export/bob/nb.ipynb").read_text() == "bob's"
    assert not outside.exists() and not (tmp_path / "zips" / "evil.txt").exists()
    assert not (tmp_path / "evil2.txt").exists()
    assert sorted(notes) == sorted([f"skipped unsafe path in zip: {n!r}" for n in unsafe] +
                                   ["duplicate entry in zip: 'export/alice/nb.ipynb' (the last one is graded)"])


@pytest.mark.parametrize("begin, end", [(None, None), ("# >>> instructor only", "# <<< instructor only")])
def test_feedback_hides_hidden_test_code_and_traceback(begin, end):
    """The course's delimiter, or any other a course configures for nbgrader's ClearHiddenTests."""
    config = notebooks.nbgrader_config(ROOT)
    if begin:
        config.ClearHiddenTests.begin_test_delimeter, config.ClearHiddenTests.end_test_delimeter = begin, end
    begin, end = begin or "### BEGIN HIDDEN TESTS", end or "### END HIDDEN TESTS"
    meta = {"grade": True, "solution": False, "locked": True, "points": 1}
    hidden = nbformat.v4.new_code_cell(f"assert f(1) == 1\n{begin}\nassert f(2) == 5, 'two'\n{end}\n",
                                       metadata={"nbgrader": {**meta, "grade_id": "test_f_hidden"}})
    visible = nbformat.v4.new_code_cell("assert f(1) == 2, 'one'",
                                        metadata={"nbgrader": {**meta, "grade_id": "test_f"}})
    for cell, line, why in ((hidden, "assert f(2) == 5, 'two'", "two"), (visible, "assert f(1) == 2, 'one'", "one")):
        cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue=why,
                                               traceback=["Traceback (most recent call last)", line, "AssertionError"])]
    nb = nbformat.v4.new_notebook(cells=[hidden, visible])

    assert grading_submission.ClearHiddenTestsAndTracebacks in grading_submission._feedback_preprocessors()
    nb, _ = grading_submission.ClearHiddenTestsAndTracebacks(config=config).preprocess(nb, {})

    assert nb.cells[0].source.strip() == "assert f(1) == 1"
    assert nb.cells[0].outputs[0].traceback == ["AssertionError: two", "(in a hidden test: its code is not shown)"]
    assert nb.cells[1].outputs[0].traceback[1] == "assert f(1) == 2, 'one'", "a visible test keeps its traceback"


def test_preprocessors_are_nbgrader_s_plus_ours():
    """nbgrader's pipeline, with its Execute replaced by ours (and outputs cut right after it)."""
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.preprocessors import Execute

    from dlcourse.grading.kernels import TwoKernelExecute

    pps = grading_submission._autograde_preprocessors()
    nbgrader_s = Autograde.class_traits()["autograde_preprocessors"].default()
    at = nbgrader_s.index(Execute)
    assert pps == [*nbgrader_s[:at], TwoKernelExecute, grading_submission.CutLongOutputs, *nbgrader_s[at + 1:]]
    assert grading_submission._feedback_preprocessors() == [*GenerateFeedback.class_traits()["preprocessors"].default(),
                                                            grading_submission.ClearHiddenTestsAndTracebacks,
                                                            grading_submission.NoteWhatRan]


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
        assert next(csv.reader(f)) == ["student", "chapter", "score", "max_score", "status", *POINTS, "detail",
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
    html = (batch["out"] / "feedback" / "eve" / CH / f"{CH}.html").read_text(encoding="utf-8")
    for marker in ("LEAK-PRINT", "LEAK-RAISE", "SNOOP-HIDDEN"):
        assert marker not in html, f"{marker}: what the student's code made of hidden inputs reached the feedback"
    assert grading_submission.HIDDEN_FAILED in html, "the feedback says that a hidden test failed"
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
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and b"613.25" in _cmdline(p)]
    assert not left, "a process the student's code started is still running"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_feedback_leaves_out_what_the_hidden_part_printed_or_raised():
    config = notebooks.nbgrader_config(ROOT)
    meta = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "test_f_hidden"}
    cell = nbformat.v4.new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nprint(f(2))\n### END HIDDEN TESTS\n",
                                     metadata={"nbgrader": meta, "dlcourse": {"hidden_outputs_from": 1,
                                                                              "hidden_failure": True}})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="visible part ok\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="LEAK 0.123\n"),
                    nbformat.v4.new_output("error", ename="ValueError", evalue="LEAK 0.123", traceback=["LEAK"])]
    nb, _ = grading_submission.ClearHiddenTestsAndTracebacks(config=config).preprocess(
        nbformat.v4.new_notebook(cells=[cell]), {})
    shown = nbformat.writes(nb)
    assert "LEAK" not in shown and "visible part ok" in shown and grading_submission.HIDDEN_FAILED in shown
    assert "dlcourse" not in nb.cells[0].metadata, "the grader's bookkeeping stays out of the feedback"
