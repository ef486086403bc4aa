"""The adversarial class: chapter 0 submitted in every bad way a grader meets, for tests/grading/test_batch.py
(a local pool) and tests/grading/test_cluster.py (a Dask cluster).

Submissions are built from chapter 0's student notebook, with answer cells filled from the solution
(right), left as stubs, or replaced by hostile code. Expected scores come from the chapter's test-cell
points, never from a previous run.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import os
import pickle
import shutil
import subprocess
import unicodedata
import uuid
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests

from dlcourse import grading, notebooks

ROOT = notebooks.course_root()
CH = "ch00_start"
#: The options the class is graded with, by every test that grades it (the local pool's and the cluster's).
OPTIONS = {"timeout": 30, "memory_gb": 3}
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
    # the system's and Python's package folders hold no course file; walking them (the venv alone is about 50,000
    # files) took most of the 20 s cell limit on a loaded 2-core machine, and mallory timed out
    if (dirpath.startswith(("/proc", "/sys", "/dev", "/usr")) or os.path.abspath(dirpath) == os.getcwd()
            or os.path.basename(dirpath) in ("site-packages", "dist-packages")):
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
# prints that the process runs: test_no_process_outlives_the_batch then knows it was started
SPAWN = ("\nimport subprocess\n_p = subprocess.Popen(['sleep', '613.25'], start_new_session=True)\n"
         "print('spawned sleep 613.25, running:', _p.poll() is None)\n")
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
# kay: correct answers that store every call's arguments in the kernel keyring (ctypes syscalls) and print
# what an earlier call stored: the keyring was a channel from the hidden kernel to the visible one, and from one
# submission to the next (the keys outlived the batch).
KEYRING_SNOOP = """
import ctypes as _ct, platform as _pf
_libc = _ct.CDLL(None, use_errno=True)
_ADD_KEY, _KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}[_pf.machine()]
def _stash_and_peek(tag, value):
    _libc.syscall(_ADD_KEY, b"user", tag.encode(), value.encode(), len(value.encode()), -4)
    serial = _libc.syscall(_KEYCTL, 10, -4, b"user", b"dlcourse-kay", 0)
    if serial > 0:
        buf = _ct.create_string_buffer(4096)
        n = _libc.syscall(_KEYCTL, 11, serial, buf, 4096)
        print("LEAK" + "-KEY-FOUND", buf.raw[:max(n, 0)])  # the marker is in the output only, never in the code
_rel_error_honest = rel_error
def rel_error(a, b):
    _stash_and_peek("dlcourse-kay", repr((a, b))[:2000])
    return _rel_error_honest(a, b)
"""
CHEATS = ("trent", "astrid", "mona", "sybil", "eve", "kira", "ken", "oscar", "pam", "jack", "zed", "fay", "kay")
#: Notebooks that are links: to the solution (linus), to another student's notebook (lena), a student folder
#: that links to another's (dirk), a hard link to a copy of the solution outside the folder (hardy). None is read.
LINKED = ("linus", "lena", "dirk", "hardy")


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

STUDENTS = {"alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy", "mallory", "José", "李雷",
            "olga", "zoe", *CHEATS, *LINKED}


def nb_path(subs: Path, student: str) -> Path:
    return subs / student / CH / f"{CH}.ipynb"


def write_adversarial_class(subs: Path) -> set[str]:
    """Write the class into ``subs`` (nbgrader's submitted layout); return its students' names."""
    write_nb(nb_path(subs, "alice"), answered(student_nb()))
    write_nb(nb_path(subs, "bob"), student_nb())
    forward_difference = ANSWERS["numerical_gradient"].replace("(f_plus - f_minus) / (2 * h)", "(f_plus - f(x)) / h")
    assert forward_difference != ANSWERS["numerical_gradient"]
    write_nb(nb_path(subs, "carol"), answered(student_nb(), numerical_gradient=forward_difference))
    write_nb(nb_path(subs, "dave"), tampered())
    write_nb(nb_path(subs, "erin"), answered(student_nb(), numerical_gradient="while True:\n    pass\n"))
    hog = "import numpy as np\nblocks = [np.ones(2**27) for _ in range(240)]  # 240 GiB, touched\n"
    write_nb(nb_path(subs, "frank"), answered(student_nb(), numerical_gradient=hog))
    (subs / "gina" / CH).mkdir(parents=True)
    nb_path(subs, "gina").write_text("this is not JSON {")
    (subs / "hank" / CH).mkdir(parents=True)
    nb_path(subs, "hank").write_text('{"a": 1}')
    (subs / "ivan" / CH).mkdir(parents=True)  # a chapter folder without the notebook
    noisy = ("import sys, warnings\n" + ANSWERS["rel_error"].replace(
        "    ### BEGIN SOLUTION", "    print('noise', file=sys.stderr); warnings.warn('careful')\n    ### BEGIN SOLUTION"))
    write_nb(nb_path(subs, "judy"), answered(student_nb(), rel_error=noisy))
    hostile = HOSTILE.format(root=ROOT, subs=subs, tag=PROBE_TAG) + ANSWERS["rel_error"]
    write_nb(nb_path(subs, "mallory"), answered(student_nb(), rel_error=hostile))
    write_nb(nb_path(subs, unicodedata.normalize("NFC", "José")), answered(student_nb()))
    nfd = unicodedata.normalize("NFD", "José")  # the same name, decomposed (as macOS writes it): an older upload
    write_nb(nb_path(subs, nfd), student_nb())
    os.utime(subs / nfd, (1_000_000_000, 1_000_000_000))
    write_nb(nb_path(subs, "李雷"), answered(student_nb()))
    (subs / "zoe").mkdir()  # submitted in the wrong layout: a notebook straight in her folder
    write_nb(subs / "zoe" / f"{CH}.ipynb", answered(student_nb()))
    huge = 'print("x" * 100_000_000)\n' + ANSWERS["rel_error"]
    write_nb(nb_path(subs, "olga"), answered(student_nb(), rel_error=huge))
    stub_ng = STUDENT_ANSWERS["numerical_gradient"]
    rel, ng = ANSWERS["rel_error"], ANSWERS["numerical_gradient"]
    cheats = {"trent": (rel + TRANSFORMER, stub_ng), "astrid": (rel + AST_PASS, stub_ng), "mona": (MONKEYPATCH, ng),
              "sybil": (rel, SUBCLASS), "eve": (rel + SNOOP, ng + SNOOP_LATER), "kira": (KERAS_INSIDE, stub_ng),
              "ken": (rel, "import tensorflow as tf\n" + ng), "oscar": (EXIT, ng), "pam": (rel + SPAWN, ng),
              "jack": (rel + JUNK, ALWAYS_EQUAL), "zed": (rel, MUTATE)}
    for student, (rel_answer, ng_answer) in cheats.items():
        write_nb(nb_path(subs, student), answered(student_nb(), rel_error=rel_answer, numerical_gradient=ng_answer))
    write_nb(nb_path(subs, "fay"), forged())
    write_nb(nb_path(subs, "kay"), answered(student_nb(), rel_error=ANSWERS["rel_error"] + KEYRING_SNOOP))
    for student, target in (("linus", notebooks.solution_path(CH, ROOT)), ("lena", nb_path(subs, "alice"))):
        nb_path(subs, student).parent.mkdir(parents=True)
        nb_path(subs, student).symlink_to(target)
    (subs / "dirk").symlink_to(subs / "alice", target_is_directory=True)
    outside = subs.parent / "outside-the-submissions"
    outside.mkdir(exist_ok=True)
    write_nb(outside / "solution-copy.ipynb", SOLUTION)
    nb_path(subs, "hardy").parent.mkdir(parents=True)
    os.link(outside / "solution-copy.ipynb", nb_path(subs, "hardy"))
    return STUDENTS


def copy_class(subs: Path, dest: Path) -> None:
    """A copy of the class ``write_adversarial_class`` wrote in ``subs``: mtimes kept (the same José is graded),
    links kept as links, and hardy's notebook a hard link again to the same file outside the folder."""
    shutil.copytree(subs, dest, symlinks=True)
    os.unlink(nb_path(dest, "hardy"))  # copytree copies a hard link as a file of its own
    os.link(subs.parent / "outside-the-submissions" / "solution-copy.ipynb", nb_path(dest, "hardy"))


def once(tmp_path_factory, worker_id: str, name: str, make):
    """``make(folder)`` run once per test session, even across pytest-xdist workers (the pattern of
    xdist's docs, "Making session-scoped fixtures execute only once", with fcntl's lock): the first
    worker to get here runs it in a shared folder and pickles its result for the others."""
    if worker_id == "master":  # not under xdist
        return make(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # the same for every worker of this session
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / f"{name}.pickle"
        if not done.is_file():
            folder = shared / name
            folder.mkdir()
            done.write_bytes(pickle.dumps(make(folder)))
        return pickle.loads(done.read_bytes())


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def course_snapshot() -> dict:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    tracked = {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest() for f in files if (ROOT / f).is_file()}
    return {"tracked": tracked, "top": sorted(p.name for p in ROOT.iterdir())}


def _grade_with_jobs_2(folder: Path) -> dict:
    subs, out = folder / "submissions", folder / "out"
    write_adversarial_class(subs)
    before = snapshot(subs)
    course_before = course_snapshot()
    results, warnings = grading.grade_class(subs, out, jobs=2, **OPTIONS, progress=False)
    return {"subs": subs, "out": out, "results": {r.student: r for r in results}, "warnings": warnings,
            "before": before, "course_before": course_before, "tag": PROBE_TAG}


def graded_with_jobs_2(tmp_path_factory, worker_id: str) -> dict:
    """The class graded with ``--jobs 2`` (local pool), once per test session: tests/grading/test_batch.py checks
    its rows, tests/grading/test_cluster.py compares the cluster's with them. ``subs`` must stay unchanged
    (test_grading checks it against ``before``); ``tag`` is the hostile notebook's PROBE_TAG (each xdist
    worker imports this module with its own)."""
    return once(tmp_path_factory, worker_id, "jobs2-class", _grade_with_jobs_2)


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file (grades.csv, an export) as dicts."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_rows(out: Path) -> list[dict]:
    """The rows of ``out``/grades.csv."""
    return read_csv(out / "grades.csv")
