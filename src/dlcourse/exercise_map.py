"""The exercise map, ``docs/exercises.md``: for every chapter and exercise, where everything about it is.

For each exercise (an autograded answer cell, named by its ``grade_id``): its points, its test cells, the
helpers its tests and answer use (locked ``given_*`` cells, names from setup cells, ``dlcourse`` modules,
answers of earlier exercises), its wrong answers in ``tests/mistakes/<chapter>.py``, its rows in
``benchmarks/cases_<ch>.py``, and links to the solution and the student notebook.

Everything is read from the files, never imported or run: the notebooks with nbformat, the benchmark and
catalogue modules with ``ast`` (importing them would start TensorFlow). ``dlcourse generate`` writes the
map; ``tests/test_notebooks.py`` fails when the committed one is stale.

    render(root) -> str          the map's Markdown
    write(root) -> Path | None   write docs/exercises.md if it changed; the path written, else None
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import notebooks

__all__ = ["Exercise", "chapter_exercises", "render", "map_path", "write"]

MAP = Path("docs") / "exercises.md"
GIVEN_PREFIX = "given_"


@dataclass
class Exercise:
    """One graded exercise of a chapter, as the map shows it."""

    name: str  # the answer cell's grade_id, which is also the graded function's name
    points: float = 0.0
    tests: list[tuple[str, float, bool]] = field(default_factory=list)  # (grade_id, points, has hidden tests)
    beside: list[str] = field(default_factory=list)  # other functions defined in the answer cell
    given: list[str] = field(default_factory=list)  # locked given cells (grade_ids) the tests use
    setup: list[str] = field(default_factory=list)  # names from setup cells that the answer or tests use
    modules: list[str] = field(default_factory=list)  # dlcourse modules (and saved names) used
    answers: dict[str, list[str]] = field(default_factory=dict)  # earlier exercise -> what of its answer cell it calls
    mistakes: int = 0  # entries in the catalogue of wrong answers
    benchmarks: list[str] = field(default_factory=list)  # make bench rows (Case names)


# ---------------------------------------------------------------------------- reading code


def _tree(source: str) -> ast.Module:
    """The cell's syntax tree; IPython magics and shell lines (``%``, ``!``) are blanked first, and a
    cell that is not Python (yet) counts as empty."""
    text = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())
    try:
        return ast.parse(text)
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def _defined(tree: ast.Module) -> dict[str, str]:
    """Top-level names a cell defines -> what they are: "def" (functions, classes), "set" (assignments) or the
    module an import takes them from."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = "def"
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.setdefault(n.id, "set")
        elif isinstance(node, ast.Import):
            for a in node.names:
                names[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return names


def _used(tree: ast.Module) -> set[str]:
    """Every name a cell reads."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _attributes_of(tree, variables: set[str]) -> set[str]:
    """``attr`` of every ``var.attr`` in ``tree`` whose ``var`` is one of ``variables``."""
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in variables}


def _dlcourse_modules(names: set[str], imported: dict[str, str]) -> list[str]:
    """What of ``dlcourse`` the names come from (``check``, ``reference``, ``given.<chapter>.<name>``)."""
    return sorted({imported[n].removeprefix("dlcourse.") for n in names if imported.get(n, "").startswith("dlcourse.")})


# ---------------------------------------------------------------------------- catalogue and benchmarks


def _catalogue_counts(path: Path) -> dict[str, int]:
    """exercise -> the number of ``Mistake(exercise, ...)`` entries in a catalogue module."""
    if not path.is_file():
        return {}
    counts: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Mistake"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            counts[node.args[0].value] = counts.get(node.args[0].value, 0) + 1
    return counts


def _benchmark_rows(path: Path) -> dict[str, list[str]]:
    """function name -> the ``Case`` rows of a ``benchmarks/cases_<ch>.py`` whose timed code calls it.

    A row's code is its ``Case(...)`` call (arguments included) and every module-level function it names,
    followed transitively; a call is ``ns.<function>`` where ``ns = notebooks.load_functions(...)``.
    """
    if not path.is_file():
        return {}
    module = ast.parse(path.read_text(encoding="utf-8"))
    spaces = set()
    functions = {}
    for node in module.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Attribute) and f.attr == "load_functions" or isinstance(f, ast.Name) and f.id == "load_functions":
                spaces |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = node
    rows: dict[str, list[str]] = {}
    for node in ast.walk(module):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Case"
                and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        seen, todo, calls = set(), [node], set()
        while todo:
            tree = todo.pop()
            calls |= _attributes_of(tree, spaces)
            for name in _used(ast.Module(body=[ast.Expr(tree)] if isinstance(tree, ast.expr) else [tree], type_ignores=[])):
                if name in functions and name not in seen:
                    seen.add(name)
                    todo.append(functions[name])
        for called in calls:
            rows.setdefault(called, []).append(node.args[0].value)
    return rows


def _bench_file(chapter: str, root: Path) -> Path:
    return root / "benchmarks" / f"cases_{chapter.split('_')[0]}.py"


# ---------------------------------------------------------------------------- one chapter


def _exercise_of(test_id: str, names: list[str]) -> str | None:
    """The exercise a test cell belongs to, by the naming rule ``test_<name>_visible`` / ``test_<name>_hidden``
    (or ``test_<name>``); the longest matching name wins."""
    for name in sorted(names, key=len, reverse=True):
        if re.fullmatch(rf"test_{re.escape(name)}(_visible|_hidden)?", test_id):
            return name
    return None


def chapter_exercises(chapter: str, root: Path | None = None) -> list[Exercise]:
    """The exercises of one chapter, in notebook order, read from its solution notebook."""
    root = root or notebooks.course_root()
    nb = nbformat.read(notebooks.solution_path(chapter, root), as_version=4)
    from nbgrader.preprocessors import ClearHiddenTests

    hidden_mark = ClearHiddenTests(config=notebooks.nbgrader_config(root)).begin_test_delimeter
    code = [c for c in nb.cells if c.cell_type == "code"]
    imported: dict[str, str] = {}  # every import of the notebook: name -> where from
    setup_defs: set[str] = set()
    given: dict[str, tuple[set[str], set[str]]] = {}  # grade_id -> (names it defines, names it uses)
    exercises: dict[str, Exercise] = {}
    answer_trees: dict[str, ast.Module] = {}
    tests: list[tuple[str, float, bool, ast.Module]] = []
    for cell in code:
        tree, meta = _tree(cell.source), cell.metadata.get("nbgrader", {})
        defs = _defined(tree)
        imported.update({k: v for k, v in defs.items() if v not in ("def", "set")})
        if notebooks.SETUP_TAG in cell.metadata.get("tags", []):
            setup_defs |= {k for k, v in defs.items() if v in ("def", "set")}
        elif notebooks.is_answer_cell(cell):
            name = meta["grade_id"]
            exercises[name] = Exercise(name, beside=[k for k, v in defs.items() if v == "def" and k != name])
            answer_trees[name] = tree
        elif notebooks.is_test_cell(cell):
            tests.append((meta["grade_id"], float(meta.get("points", 0)), hidden_mark in cell.source, tree))
        elif meta.get("locked") and meta.get("grade_id"):
            given[meta["grade_id"]] = (set(defs), _used(tree))

    names = list(exercises)
    catalogue = _catalogue_counts(root / "tests" / "mistakes" / f"{chapter}.py")
    bench = _benchmark_rows(_bench_file(chapter, root))
    for test_id, points, hidden, tree in tests:
        name = _exercise_of(test_id, names)
        if name is None:
            continue
        ex = exercises[name]
        ex.tests.append((test_id, points, hidden))
        ex.points += points
        answer_trees.setdefault(f"{name} tests", ast.Module(body=[], type_ignores=[])).body.extend(tree.body)

    answer_functions = {n: set(e.beside) | {n} for n, e in exercises.items()}
    for name, ex in exercises.items():
        answer_uses = _used(answer_trees[name])
        test_uses = _used(answer_trees.get(f"{name} tests", ast.Module(body=[], type_ignores=[])))
        # given cells: those the tests use, and the given cells those use, in notebook order
        wanted, todo = set(), set(test_uses)
        while True:
            more = {g for g, (defs, _) in given.items() if g not in wanted and defs & todo}
            if not more:
                break
            wanted |= more
            todo = set().union(*(given[g][1] for g in more))
        ex.given = [g for g in given if g in wanted]
        uses = set().union(answer_uses, test_uses, *(given[g][1] for g in ex.given))
        ex.setup = sorted(n for n in setup_defs & (answer_uses | test_uses) if n not in ("np",))
        ex.modules = _dlcourse_modules(uses, imported)
        earlier = names[:names.index(name)]
        ex.answers = {e: sorted(answer_functions[e] & answer_uses) for e in earlier if answer_functions[e] & answer_uses}
        ex.mistakes = catalogue.get(name, 0)
        ex.benchmarks = bench.get(name, [])
    return list(exercises.values())


# ---------------------------------------------------------------------------- the map


def _points(x: float) -> str:
    return f"{x:g}"


def _code(items) -> str:
    return ", ".join(f"`{i}`" for i in items)


def render(root: Path | None = None) -> str:
    """The Markdown of ``docs/exercises.md`` (links relative to ``docs/``)."""
    root = root or notebooks.course_root()
    out = [
        "# The exercise map",
        "",
        "<!-- Generated by `dlcourse generate` (src/dlcourse/exercise_map.py) from the solution notebooks, the",
        "     catalogue of wrong answers and the benchmark cases. Do not edit: tests/test_notebooks.py fails when",
        "     this file is stale. -->",
        "",
        "Every graded exercise of the course: its answer cell (the `grade_id`, which is also the function's",
        "name), its points, its test cells, the helpers they use, its wrong answers in the catalogue and its",
        "rows in `make bench`. The naming rules, the tags and where helpers may live are in",
        "[the chapter standard](maintainers/chapter-standard.md).",
        "",
        "Columns: **tests** lists the exercise's locked test cells with their points (*hidden*: the cell has a",
        "hidden part, which the student version does not show). **helpers** lists what the tests and the",
        "answer rely on: locked given cells (`given_*`), names defined in setup cells, `dlcourse` modules",
        "(`given.<chapter>` is a chapter's saved code), functions written beside the answer in its own cell,",
        "and the code of earlier exercises' answer cells that this answer calls. **wrong answers** counts the entries of",
        "`tests/mistakes/<chapter>.py`. **benchmark** names the rows of `benchmarks/cases_<ch>.py` that time",
        "the function (see [performance](maintainers/performance.md)).",
        "",
    ]
    chapters = notebooks.chapter_ids(root)
    out += ["| chapter | exercises | points |", "|---|---:|---:|"]
    per_chapter = {ch: chapter_exercises(ch, root) for ch in chapters}
    for ch, exs in per_chapter.items():
        out.append(f"| [{ch}](#{ch}) | {len(exs)} | {_points(sum(e.points for e in exs))} |")
    out.append("")
    for ch, exs in per_chapter.items():
        sol, stu = f"solutions/{ch}/{ch}.ipynb", f"notebooks/{ch}/{ch}.ipynb"
        catalogue = f"tests/mistakes/{ch}.py"
        bench = _bench_file(ch, root).relative_to(root).as_posix()
        out += [
            f"## {ch}",
            "",
            f"Solution (instructor source, executed): [`{sol}`](../{sol}) · student version: [`{stu}`](../{stu})",
            "· catalogue of wrong answers: "
            + (f"[`{catalogue}`](../{catalogue})" if (root / catalogue).is_file() else "none yet")
            + " · benchmarks: " + (f"[`{bench}`](../{bench})" if (root / bench).is_file() else "none"),
            "",
            "| exercise | points | tests | helpers | wrong answers | benchmark |",
            "|---|---:|---|---|---:|---|",
        ]
        for e in exs:
            tests = "<br>".join(f"`{t}` ({_points(p)}{', hidden' if h else ''})" for t, p, h in e.tests) or "**none**"
            helpers = []
            if e.given:
                helpers.append("given: " + _code(e.given))
            if e.setup:
                helpers.append("setup: " + _code(e.setup))
            if e.modules:
                helpers.append("dlcourse: " + _code(e.modules))
            if e.beside:
                helpers.append("beside: " + _code(e.beside))
            if e.answers:
                helpers.append("earlier answers: " + ", ".join(
                    f"`{owner}`" if fs == [owner] else f"{_code(fs)} (`{owner}`'s cell)"
                    for owner, fs in e.answers.items()))
            out.append(f"| `{e.name}` | {_points(e.points)} | {tests} | {'<br>'.join(helpers) or 'none'} | "
                       f"{e.mistakes or 'none'} | {_code(e.benchmarks) or 'none'} |")
        out.append("")
    return "\n".join(out)


def map_path(root: Path | None = None) -> Path:
    return (root or notebooks.course_root()) / MAP


def write(root: Path | None = None) -> Path | None:
    """Write ``docs/exercises.md`` when its text changed; the path written, or None when it was current."""
    path, text = map_path(root), render(root)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
