"""Grading a class: every kind of bad submission, graded together in one batch.

Submissions are built from chapter 0's student notebook, with answer cells filled from the
solution (right), left as stubs, or replaced by hostile code. Expected scores come from the
chapter's test-cell points, never from a previous run.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
import unicodedata
import uuid
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import ClearHiddenTests

from dlcourse import grading, notebooks
from dlcourse.grading import batch as grading_batch, intake as grading_intake, submission as grading_submission

ROOT = notebooks.course_root()
CH = "ch00_start"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")

SOLUTION = nbformat.read(notebooks.solution_path(CH, ROOT), as_version=4)
ANSWERS = {c.metadata.nbgrader["grade_id"]: c.source for c in SOLUTION.cells if notebooks.is_answer_cell(c)}
STUDENT_ANSWERS = {c.metadata.nbgrader["grade_id"]: c.source
                   for c in nbformat.read(notebooks.student_path(CH, ROOT), as_version=4).cells if notebooks.is_answer_cell(c)}
TEST_POINTS = {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader["points"]
               for c in SOLUTION.cells if notebooks.is_test_cell(c)}
POINTS = grading.chapter_exercises(CH, ROOT)  # {"rel_error": 3, "numerical_gradient": 3}
TOTAL = sum(POINTS.values())
HIDDEN_BEGIN = ClearHiddenTests(config=notebooks.nbgrader_config(ROOT)).begin_test_delimeter
PROBE_TAG = uuid.uuid4().hex[:8]  # names of files the hostile notebook tries to create on the host


def student_nb():
    return nbformat.read(notebooks.student_path(CH, ROOT), as_version=4)


def answered(nb, **override):
    """Fill every answer cell from the solution, or with ``override[grade_id]``."""
    for cell in nb.cells:
        if notebooks.is_answer_cell(cell):
            gid = cell.metadata.nbgrader["grade_id"]
            cell.source = override.get(gid, ANSWERS[gid])
    return nb


def tampered():
    """Stub answers, but every test cell edited to pass and one deleted outright."""
    nb = student_nb()
    tests = [c for c in nb.cells if notebooks.is_test_cell(c)]
    for c in tests:
        c.source = "assert True"
    nb.cells.remove(tests[-1])
    return nb


HOSTILE = r'''
import os
needle = b"default_rng(" + b"1234)"  # a line of rel_error's hidden tests, split so this cell does not contain it
found, wrote = [], []
targets = ["../../source", "../../../source/ch00_start/ch00_start.ipynb", "../../../gradebook.db",
           "{root}/solutions/ch00_start/ch00_start.ipynb", "{root}/autograde/nbgrader_config.py", "{subs}"]
found += [t for t in targets if os.path.exists(t)]
for dirpath, dirs, files in os.walk("/"):
    if dirpath.startswith(("/proc", "/sys", "/dev", "/usr")) or os.path.abspath(dirpath) == os.getcwd():
        dirs[:] = []
        continue
    for f in files:
        if f.endswith((".ipynb", ".db", ".json")):
            try:
                with open(os.path.join(dirpath, f), "rb") as fh:
                    if needle in fh.read():
                        found.append(os.path.join(dirpath, f))
            except OSError:
                pass
for target in ["{root}/pwned-{tag}", "{subs}/pwned-{tag}", "/work/pwned-{tag}", "/pwned-{tag}"]:
    try:
        with open(target, "w") as fh:
            fh.write("x")
        wrote.append(target)
    except OSError:
        pass
print("SANDBOX-PROBE found=%s" % sorted(set(found)))
print("SANDBOX-PROBE wrote=%s" % wrote)
print("SANDBOX-PROBE threads=%s" % ",".join(os.environ.get(v, "-") for v in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")))
'''


# Cheats, each tried as a student would, in an answer cell (the student controls their kernel). Each must earn
# exactly what its honest part solves: the tests run in the grader's kernel, not in the student's.
TRANSFORMER = "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])  # every later cell: pass\n"
AST_PASS = """
import ast
class _Pass(ast.NodeTransformer):
    def visit_Module(self, node):
        return ast.Module(body=[ast.Pass()], type_ignores=[])
get_ipython().ast_transformers.append(_Pass())
"""
MONKEYPATCH = """
import builtins, numpy as np
from dlcourse import check
check.assert_close = lambda *args, **kwargs: None
np.isclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
builtins.isinstance = lambda *args: True
def rel_error(a, b):
    return 0.0
"""
SUBCLASS = """
import numpy as np
class Agreeable(np.ndarray):
    # every comparison true, every difference zero
    def __eq__(self, other): return True
    def __sub__(self, other): return np.zeros(np.shape(self)).view(Agreeable)
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(np.broadcast_shapes(*(np.shape(i) for i in inputs))).view(Agreeable)
def numerical_gradient(f, x, h=1e-5):
    return np.zeros(np.shape(x)).view(Agreeable)
"""
SNOOP = """
import builtins, numpy as np
get_ipython().events.register("pre_run_cell", lambda info: print("PRE" + "RUN", info.raw_cell))
builtins._hidden_seen = []
_solution_rel_error = rel_error
def rel_error(a, b):
    if np.ndim(a) >= 2 and np.shape(a) != (2, 3):  # only the hidden tests use these shapes
        builtins._hidden_seen.append(np.asarray(a).tolist())
        print("LEAK" + "-PRINT", np.asarray(a).ravel()[:3])  # markers made at run time: the code is shown
        if np.ndim(a) == 3 and np.shape(a)[0] == 2:
            raise ValueError("LEAK" + "-RAISE " + repr(np.asarray(a).ravel()[:3]))
    return _solution_rel_error(a, b)
"""
SNOOP_LATER = """
import builtins
_solution_numerical_gradient = numerical_gradient
def numerical_gradient(f, x, h=1e-5):
    if getattr(builtins, "_hidden_seen", None):  # a later exercise prints what an earlier hidden test sent
        print("SNOOP" + "-HIDDEN", builtins._hidden_seen)
    return _solution_numerical_gradient(f, x, h)
"""
KERAS_INSIDE = """
def rel_error(a, b):
    tf = reference.tf()
    a, b = tf.constant(a, tf.float64), tf.constant(b, tf.float64)
    return float(tf.reduce_max(tf.abs(a - b) / tf.maximum(1e-8, tf.abs(a) + tf.abs(b))))
"""
EXIT = "def rel_error(a, b):\n    import os\n    os._exit(1)\n"
SPAWN = "\nimport subprocess\nsubprocess.Popen(['sleep', '613.25'], start_new_session=True)\n"
JUNK = """
_solution_rel_error = rel_error
def rel_error(a, b):
    print("\\x00\\xff\\x1b[2J junk " * 50_000)  # 1 MB of binary junk on every call
    return _solution_rel_error(a, b)
"""
ALWAYS_EQUAL = """
class AlwaysEqual:
    def __eq__(self, other): return True
    __array_priority__ = 1000
def numerical_gradient(f, x, h=1e-5):
    return AlwaysEqual()
"""
MUTATE = """
import numpy as np
def numerical_gradient(f, x, h=1e-5):
    x[...] = 0.0  # zero the input, so that a reference computed from it afterwards is zero too
    return np.zeros(np.shape(x))
"""
CHEATS = ("trent", "astrid", "mona", "sybil", "eve", "kira", "ken", "oscar", "pam", "jack", "zed", "fay")


def forged():
    """Stub answers; a forged test cell worth 50 points and a rewritten given cell."""
    nb = student_nb()
    meta = {"grade": True, "grade_id": "test_forged", "locked": True, "points": 50, "schema_version": 3,
            "solution": False, "task": False}
    nb.cells.append(nbformat.v4.new_code_cell("print('all good')", metadata={"nbgrader": meta}))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "given_reference":
            cell.source = "import builtins\nbuiltins.print = None\nassert False\n"
    return nb


def write_nb(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    subs = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("out")
    nb_path = lambda student: subs / student / CH / f"{CH}.ipynb"  # noqa: E731

    write_nb(nb_path("alice"), answered(student_nb()))
    write_nb(nb_path("bob"), student_nb())
    forward_difference = ANSWERS["numerical_gradient"].replace("(f_plus - f_minus) / (2 * h)", "(f_plus - f(x)) / h")
    assert forward_difference != ANSWERS["numerical_gradient"]
    write_nb(nb_path("carol"), answered(student_nb(), numerical_gradient=forward_difference))
    write_nb(nb_path("dave"), tampered())
    write_nb(nb_path("erin"), answered(student_nb(), numerical_gradient="while True:\n    pass\n"))
    hog = "import numpy as np\nblocks = [np.ones(2**27) for _ in range(240)]  # 240 GiB, touched\n"
    write_nb(nb_path("frank"), answered(student_nb(), numerical_gradient=hog))
    (subs / "gina" / CH).mkdir(parents=True)
    nb_path("gina").write_text("this is not JSON {")
    (subs / "hank" / CH).mkdir(parents=True)
    nb_path("hank").write_text('{"a": 1}')
    (subs / "ivan" / CH).mkdir(parents=True)  # a chapter folder without the notebook
    noisy = ("import sys, warnings\n" + ANSWERS["rel_error"].replace(
        "    ### BEGIN SOLUTION", "    print('noise', file=sys.stderr); warnings.warn('careful')\n    ### BEGIN SOLUTION"))
    write_nb(nb_path("judy"), answered(student_nb(), rel_error=noisy))
    hostile = HOSTILE.format(root=ROOT, subs=subs, tag=PROBE_TAG) + ANSWERS["rel_error"]
    write_nb(nb_path("mallory"), answered(student_nb(), rel_error=hostile))
    write_nb(nb_path(unicodedata.normalize("NFC", "José")), answered(student_nb()))
    nfd = unicodedata.normalize("NFD", "José")  # the same name, decomposed (as macOS writes it): an older upload
    write_nb(nb_path(nfd), student_nb())
    os.utime(subs / nfd, (1_000_000_000, 1_000_000_000))
    write_nb(nb_path("李雷"), answered(student_nb()))
    (subs / "zoe").mkdir()  # submitted in the wrong layout: a notebook straight in her folder
    write_nb(subs / "zoe" / f"{CH}.ipynb", answered(student_nb()))
    huge = 'print("x" * 100_000_000)\n' + ANSWERS["rel_error"]
    write_nb(nb_path("olga"), answered(student_nb(), rel_error=huge))
    stub_ng = STUDENT_ANSWERS["numerical_gradient"]
    rel, ng = ANSWERS["rel_error"], ANSWERS["numerical_gradient"]
    cheats = {"trent": (rel + TRANSFORMER, stub_ng), "astrid": (rel + AST_PASS, stub_ng), "mona": (MONKEYPATCH, ng),
              "sybil": (rel, SUBCLASS), "eve": (rel + SNOOP, ng + SNOOP_LATER), "kira": (KERAS_INSIDE, stub_ng),
              "ken": (rel, "import tensorflow as tf\n" + ng), "oscar": (EXIT, ng), "pam": (rel + SPAWN, ng),
              "jack": (rel + JUNK, ALWAYS_EQUAL), "zed": (rel, MUTATE)}
    for student, (rel_answer, ng_answer) in cheats.items():
        write_nb(nb_path(student), answered(student_nb(), rel_error=rel_answer, numerical_gradient=ng_answer))
    write_nb(nb_path("fay"), forged())

    before = snapshot(subs)
    course_before = course_snapshot()
    results, warnings = grading.grade_class(subs, out, jobs=2, timeout=20, memory_gb=3, progress=False)
    return {"subs": subs, "out": out, "results": {r.student: r for r in results}, "warnings": warnings,
            "before": before, "course_before": course_before}


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def course_snapshot() -> dict:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    tracked = {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest() for f in files if (ROOT / f).is_file()}
    return {"tracked": tracked, "top": sorted(p.name for p in ROOT.iterdir())}


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
    for target in [ROOT / f"pwned-{PROBE_TAG}", batch["subs"] / f"pwned-{PROBE_TAG}",
                   Path("/work") / f"pwned-{PROBE_TAG}", Path("/") / f"pwned-{PROBE_TAG}"]:
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
    serial, _ = grading.grade_class(zpath, tmp_path / "o1", jobs=1, timeout=20, progress=False)
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
