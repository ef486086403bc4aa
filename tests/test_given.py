"""One source for code that chapters share (``dlcourse.given``, d2l's ``#@save``)."""

from __future__ import annotations

import ast
import importlib
import inspect

import nbformat
import pytest

from dlcourse import notebooks

ROOT = notebooks.course_root()
CHAPTERS = notebooks.chapter_ids(ROOT)

#: Copies that are still to be replaced by an import from dlcourse.given: (chapter, function).
#: Empty it as the chapters move; the test below fails both on a new copy and on a stale entry.
KNOWN_COPIES: set = set()


def _defined(chapter: str) -> set[str]:
    nb = nbformat.read(notebooks.solution_path(chapter, ROOT), as_version=4)
    names = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    return names


def _saved() -> dict[str, str]:
    """function or class -> the chapter that saves it"""
    owner = {}
    for chapter in CHAPTERS:
        code = notebooks.saved_code(chapter, ROOT)
        if code:
            for node in ast.parse(code).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    owner[node.name] = chapter
    return owner


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_given_modules_are_what_the_solutions_save(chapter):
    code, path = notebooks.saved_code(chapter, ROOT), notebooks.given_path(chapter)
    if code is None:
        assert not path.exists(), f"{path.name}: the chapter saves nothing any more; run `make notebooks`"
    else:
        assert path.is_file() and path.read_text(encoding="utf-8") == code, (
            f"dlcourse/given/{path.name} is not what {chapter}'s #@save cells say: run `make notebooks`")


def test_no_chapter_retypes_another_s_saved_code():
    owner = _saved()
    copies = {(ch, name) for ch in CHAPTERS for name in _defined(ch) if name in owner and owner[name] != ch}
    assert copies - KNOWN_COPIES == set(), "import these from dlcourse.given instead of defining them again"
    assert KNOWN_COPIES - copies == set(), "these copies are gone: take them out of KNOWN_COPIES"


def test_saved_functions_are_the_solutions(tmp_path):
    """The given module's function is the solution's: same source once the solution markers are dropped,
    and the same behaviour on a sample input (a check that the module imports and runs)."""
    mod = importlib.import_module("dlcourse.given.ch01_gradient_descent")
    nb = nbformat.read(notebooks.solution_path("ch01_gradient_descent", ROOT), as_version=4)
    cell = next(c for c in nb.cells if notebooks.is_answer_cell(c) and c.metadata.nbgrader["grade_id"] == "sigmoid")
    body = [ln for ln in cell.source.splitlines() if ln.strip() not in (*notebooks.SOLUTION_MARKS, notebooks.SAVE_MARK)]
    assert inspect.getsource(mod.sigmoid).rstrip() == "\n".join(body).rstrip()
    import numpy as np
    z = np.array([-1000.0, 0.0, 3.0])
    np.testing.assert_allclose(mod.sigmoid(z), [0.0, 0.5, 1 / (1 + np.exp(-3.0))], rtol=1e-15)


def test_student_versions_carry_no_save_marks():
    for chapter in CHAPTERS:
        text = notebooks.student_path(chapter, ROOT).read_text(encoding="utf-8")
        assert notebooks.SAVE_MARK not in text, f"{chapter}: #@save is for the solutions only"
