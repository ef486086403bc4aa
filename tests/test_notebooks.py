"""The notebook pipeline: hygiene, fresh student versions, stub-only errors, nbgrader validation.

nbval (run by `make test` on solutions/) checks that the stored solution outputs reproduce;
these tests check everything else a chapter promises. Each notebook is executed as few times
as possible: the student version once (its run is both the end-to-end check and
`nbgrader validate --invert`), the solution once more here for `nbgrader validate`.
"""

from __future__ import annotations

import copy
import os
import re
import shutil

import nbformat
import numpy as np
import pytest
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.validator import Validator

from dlcourse import exercise_map, notebooks

ROOT = notebooks.course_root()
CHAPTERS = notebooks.chapter_ids(ROOT)
HIDDEN_BEGIN = ClearHiddenTests(config=notebooks.nbgrader_config(ROOT)).begin_test_delimeter  # as nbgrader finds them
EXPECTED_CHAPTERS = ["ch00_start", "ch01_gradient_descent", "ch02_convolution", "ch03_lstm", "ch04_attention", "ch05_gpt", "ch06_scale"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STUB = "raise NotImplementedError()"


def read(path):
    return nbformat.read(path, as_version=4)


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def test_chapter_ids_are_the_course_s():
    assert CHAPTERS, "no chapter found in solutions/"
    assert set(CHAPTERS) <= set(EXPECTED_CHAPTERS), f"unknown chapter folders: {set(CHAPTERS) - set(EXPECTED_CHAPTERS)}"
    assert CHAPTERS == [c for c in EXPECTED_CHAPTERS if c in CHAPTERS]
    students = sorted(p.parent.name for p in (ROOT / "notebooks").glob("*/*.ipynb"))
    assert students == CHAPTERS, "notebooks/ must hold exactly one student version per chapter: run `make notebooks`"


# ---------------------------------------------------------------------------- hygiene


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_hygiene(chapter):
    sol_path, stu_path = notebooks.solution_path(chapter, ROOT), notebooks.student_path(chapter, ROOT)
    for path in (sol_path, stu_path):
        nb = read(path)
        nbformat.validate(nb)
        assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path}: kernelspec must be python3"

    stu = read(stu_path)
    with_outputs = [i for i, c in enumerate(stu.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"{stu_path}: cells {with_outputs} have outputs; student notebooks are committed clean"

    sol = read(sol_path)
    ids = [nbgrader_meta(c)["grade_id"] for c in sol.cells if nbgrader_meta(c).get("grade_id")]
    assert len(ids) == len(set(ids)), f"{chapter}: duplicate grade_ids {sorted({i for i in ids if ids.count(i) > 1})}"

    answers = [c for c in sol.cells if notebooks.is_answer_cell(c)]
    tests = [c for c in sol.cells if notebooks.is_test_cell(c)]
    assert answers and tests, f"{chapter}: a chapter has graded exercises"
    for c in tests:
        meta = nbgrader_meta(c)
        assert meta.get("points", 0) > 0, f"{chapter}: test cell {meta['grade_id']} has no points"
        assert meta.get("locked"), f"{chapter}: test cell {meta['grade_id']} must be locked"
    for c in answers:
        assert "### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source, (
            f"{chapter}: answer cell {nbgrader_meta(c)['grade_id']} needs BEGIN/END SOLUTION markers")
        name = nbgrader_meta(c)["grade_id"]
        assert re.search(rf"^def {re.escape(name)}\(", c.source, re.M), (
            f"{chapter}: answer cell {name} must define the function {name}() (the graded API)")
    hidden = [c for c in tests if HIDDEN_BEGIN in c.source]
    for c in answers:
        name = nbgrader_meta(c)["grade_id"]
        assert any(re.search(rf"\b{re.escape(name)}\(", h.source) for h in hidden), (
            f"{chapter}: exercise {name} has no hidden tests")
    setup = [c for c in sol.cells if "setup" in c.metadata.get("tags", [])]
    assert setup, f"{chapter}: tag the imports cell 'setup' so that load_functions can run it"


# ---------------------------------------------------------------------------- freshness


def test_hygiene_exercise_map_is_current():
    """docs/exercises.md is what `dlcourse generate` writes from today's solutions, catalogue and benchmarks."""
    path = exercise_map.map_path(ROOT)
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: run `make notebooks` and commit it"
    assert path.read_text(encoding="utf-8") == exercise_map.render(ROOT), (
        f"{path.relative_to(ROOT)} is stale: run `make notebooks` (dlcourse generate) and commit it")


def test_hygiene_exercise_map_reads_a_made_up_chapter(tmp_path):
    """The map's rows come from the files: a made-up chapter with two exercises, a given cell, a setup helper,
    a catalogue entry and a benchmark row, and a test cell that breaks the naming rule (its exercise then shows
    no tests, which a reader sees)."""
    shutil.copytree(ROOT / "autograde", tmp_path / "autograde")
    meta = {"grade": False, "solution": True, "locked": False, "points": 0}
    test = {"grade": True, "solution": False, "locked": True}
    cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom dlcourse import check\n\ndef helper(x):\n    return x\n",
                                  metadata={"tags": ["setup"]}),
        nbformat.v4.new_code_cell("def make_case(n):\n    return np.ones(n)\n",
                                  metadata={"nbgrader": {"grade": False, "solution": False, "locked": True,
                                                         "grade_id": "given_cases"}}),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * helper(x)\n    ### END SOLUTION\n",
                                  metadata={"nbgrader": {**meta, "grade_id": "double"}}),
        nbformat.v4.new_code_cell("check.assert_close(double(make_case(2)), 2 * np.ones(2), tol='float64')\n"
                                  "### BEGIN HIDDEN TESTS\nassert double(1) == 2\n### END HIDDEN TESTS\n",
                                  metadata={"nbgrader": {**test, "points": 3, "grade_id": "test_double_visible"}}),
        nbformat.v4.new_code_cell("def quad(x):\n    ### BEGIN SOLUTION\n    return double(double(x))\n    ### END SOLUTION\n",
                                  metadata={"nbgrader": {**meta, "grade_id": "quad"}}),
        nbformat.v4.new_code_cell("assert quad(1) == 4\n",
                                  metadata={"nbgrader": {**test, "points": 2, "grade_id": "quad_test"}}),
    ]
    (tmp_path / "solutions" / "ch09_made_up").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "solutions" / "ch09_made_up" / "ch09_made_up.ipynb")
    (tmp_path / "tests" / "mistakes").mkdir(parents=True)
    (tmp_path / "tests" / "mistakes" / "ch09_made_up.py").write_text(
        'MISTAKES = [Mistake("double", "triple", "def double(x): return 3 * x", says=("double",))]\n')
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "cases_ch09.py").write_text(
        "ch09 = notebooks.load_functions(path)\n\ndef quad_case(dtype):\n    return (lambda: ch09.quad(1)), None\n\n"
        'CASES = [Case("quad, made up", "x ()", quad_case, "none")]\n')

    double, quad = exercise_map.chapter_exercises("ch09_made_up", tmp_path)
    assert (double.name, double.points, double.tests) == ("double", 3, [("test_double_visible", 3, True)])
    assert (double.given, double.setup, double.mistakes) == (["given_cases"], ["helper"], 1)
    assert "check" in double.modules
    assert (quad.name, quad.points, quad.tests, quad.answers) == ("quad", 0, [], {"double": ["double"]})
    assert quad.benchmarks == ["quad, made up"] and double.benchmarks == []
    text = exercise_map.render(tmp_path)
    assert "| `quad` | 0 | **none** |" in text, "an exercise without test cells (by the naming rule) stands out"
    assert "[`solutions/ch09_made_up/ch09_made_up.ipynb`](../solutions/ch09_made_up/ch09_made_up.ipynb)" in text
    assert exercise_map.write(tmp_path) == tmp_path / "docs" / "exercises.md"
    assert exercise_map.write(tmp_path) is None, "an unchanged map is not written again"


def _comparable(nb):
    """A notebook minus what nbgrader or the executing machine may change without meaning."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("language_info", None)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.pop("id", None)
        cell.metadata.pop("execution", None)
    return nb


def test_student_notebooks_are_generated_from_the_solutions(tmp_path):
    fresh = notebooks.generate_student_notebooks(CHAPTERS, release_dir=tmp_path, root=ROOT)
    stale = []
    for chapter, path in zip(CHAPTERS, fresh):
        if _comparable(read(path)) != _comparable(read(notebooks.student_path(chapter, ROOT))):
            stale.append(chapter)
    assert not stale, f"notebooks/ is stale for {stale}: run `make notebooks` and commit the result"


# ---------------------------------------------------------------------------- execution


class KeepingValidator(Validator):
    """nbgrader's Validator, keeping the executed notebook for further checks."""

    executed = None

    def _preprocess(self, nb):
        self.executed = super()._preprocess(nb)
        return self.executed


def _errors(nb):
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.output_type == "error":
                yield index, cell, out


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_version_fails_only_on_stubs(chapter):
    """Run the student notebook as nbgrader validate --invert does, once, and check two things:
    every error is the NotImplementedError of an exercise stub, and no graded test passes."""
    path = notebooks.student_path(chapter, ROOT)
    validator = KeepingValidator(invert=True)
    results = validator.validate(str(path))
    assert "changed" not in results and "type_changed" not in results, f"{chapter}: {results}"
    passed = [r["source"].splitlines()[0] for r in results.get("passed", [])]
    assert not passed, f"{chapter}: these test cells pass with the stubs in place, so they test nothing: {passed}"

    nb = validator.executed
    bad = []
    for index, cell, err in _errors(nb):
        trace = ANSI.sub("", "\n".join(err.get("traceback", [])))
        if err.ename != "NotImplementedError" or STUB not in trace:
            bad.append(f"cell {index}: {err.ename}: {err.evalue}\n{trace[-1500:]}")
    assert not bad, f"{chapter}: errors other than a stub's NotImplementedError:\n" + "\n\n".join(bad)

    tests = [c for c in nb.cells if notebooks.is_test_cell(c)]
    failing = [c for c in tests if any(o.output_type == "error" for o in c.outputs)]
    assert len(failing) == len(tests), f"{chapter}: {len(tests) - len(failing)} test cells did not fail on the stubs"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_gets_full_marks(chapter):
    results = Validator().validate(str(notebooks.solution_path(chapter, ROOT)))
    failed = [f"{r['source'].splitlines()[0]}\n{r.get('raw_error', '')[-1500:]}" for r in results.get("failed", [])]
    assert not failed, f"{chapter}: nbgrader validate finds failing tests in the solution:\n" + "\n\n".join(failed)
    assert not results, f"{chapter}: nbgrader validate: {results}"


# ---------------------------------------------------------------------------- loading functions


def test_load_functions_runs_setup_and_answers_only():
    ns = notebooks.load_functions(notebooks.solution_path("ch00_start", ROOT))
    assert ns.rel_error([1.0], [3.0]) == pytest.approx(0.5)
    assert not hasattr(ns, "y_keras"), "load_functions ran a cell that is neither setup nor an answer"
    stub = notebooks.load_functions(notebooks.student_path("ch00_start", ROOT))
    with pytest.raises(NotImplementedError):
        stub.rel_error([1.0], [3.0])


@pytest.mark.parametrize("chapter, fast, graded", [("ch02_convolution", "conv2d_forward_blocked", "conv2d_forward"),
                                                   ("ch03_lstm", "lstm_forward_fast", "lstm_forward")])
def test_fast_versions_load_by_tag_and_agree_in_float32(chapter, fast, graded):
    """make bench times the fast versions shown beside graded answers: they load by tag, and only then,
    and in float32 they return float32 numbers equal to the graded answer's to float32 round-off."""
    path = notebooks.solution_path(chapter, ROOT)
    assert not hasattr(notebooks.load_functions(path), fast), f"{fast} ran without asking for the 'bench' tag"
    ns = notebooks.load_functions(path, tags=("bench",))
    rng = np.random.default_rng(0)
    if chapter == "ch02_convolution":
        args = [rng.normal(size=s).astype(np.float32) for s in ((4, 9, 9, 3), (3, 3, 3, 5), (5,))]
        kwargs = {"stride": 2, "padding": "same"}
        mine, ref = getattr(ns, fast)(*args, **kwargs), getattr(ns, graded)(*args, **kwargs)
    else:
        args = [(rng.normal(size=s) * 0.3).astype(np.float32) for s in ((3, 7, 4), (4, 20), (5, 20), (20,))]
        mine, ref = getattr(ns, fast)(*args)[0], getattr(ns, graded)(*args)[0]
    assert mine.dtype == np.float32, f"{fast} gave {mine.dtype} for float32 inputs"
    np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-6)


def test_attention_keeps_float32():
    """make bench times chapter 4 in float32: float32 in must stay float32 out (a float64 scalar such as
    np.sqrt(d) would silently promote it), and float64 in stays float64."""
    ns = notebooks.load_functions(notebooks.solution_path("ch04_attention", ROOT))
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        q, k, v, dout = (rng.normal(size=(2, 3, 5, 4)).astype(dtype) for _ in range(4))
        p = {n: rng.normal(size=s).astype(dtype) for n, s in {
            "Wq": (6, 2, 4), "bq": (2, 4), "Wk": (6, 2, 4), "bk": (2, 4), "Wv": (6, 2, 4), "bv": (2, 4),
            "Wo": (2, 4, 6), "bo": (6,)}.items()}
        x = rng.normal(size=(2, 5, 6)).astype(dtype)
        results = {"scaled_dot_product_attention": ns.scaled_dot_product_attention(q, k, v),
                   "multi_head_attention": ns.multi_head_attention(x, x, p, 2),
                   "attention_backward": ns.attention_backward(dout, q, k, v)}
        for name, arrays in results.items():
            assert all(a.dtype == dtype for a in arrays), f"{name} turned {np.dtype(dtype).name} into {[a.dtype for a in arrays]}"


# ---------------------------------------------------------------------------- environment


def test_environment_sets_then_restores_only_its_variables(monkeypatch):
    """Restores on leaving and on an error; a variable that did not exist is removed again; a change
    made inside the block to any other variable is left alone (unittest.mock.patch.dict would undo it)."""
    monkeypatch.setenv("DLCOURSE_T_OLD", "old")
    monkeypatch.delenv("DLCOURSE_T_NEW", raising=False)
    monkeypatch.delenv("DLCOURSE_T_OTHER", raising=False)
    with pytest.raises(RuntimeError, match="inside"):
        with notebooks.environment(DLCOURSE_T_OLD="new", DLCOURSE_T_NEW="1"):
            assert (os.environ["DLCOURSE_T_OLD"], os.environ["DLCOURSE_T_NEW"]) == ("new", "1")
            os.environ["DLCOURSE_T_OTHER"] = "set inside"
            raise RuntimeError("inside")
    assert os.environ["DLCOURSE_T_OLD"] == "old"
    assert "DLCOURSE_T_NEW" not in os.environ
    assert os.environ["DLCOURSE_T_OTHER"] == "set inside"
    with notebooks.environment(DLCOURSE_T_NEW="2"):
        assert os.environ["DLCOURSE_T_NEW"] == "2"
    assert "DLCOURSE_T_NEW" not in os.environ


def test_a_gradebook_opens_without_starting_alembic(tmp_path, monkeypatch):
    """venv_on_path: a new gradebook gets the schema version `alembic heads` prints for nbgrader's migrations,
    read in this process (nbgrader spawns `alembic heads` for every new gradebook: 3.5 s of each check)."""
    import subprocess

    import nbgrader.api
    from nbgrader.dbutil import _temp_alembic_ini

    notebooks.venv_on_path()
    with _temp_alembic_ini(f"sqlite:///{tmp_path}/probe.db") as ini:  # what nbgrader itself would run
        printed = subprocess.check_output(["alembic", "-c", ini, "heads"], text=True).split("\n")[0].split(" ")[0]

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started to open a gradebook: {args}")

    monkeypatch.setattr(nbgrader.api.sp, "check_output", no_process)
    with nbgrader.api.Gradebook(f"sqlite:///{tmp_path}/gradebook.db") as gb:
        version = gb.db.execute(nbgrader.api.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == printed
