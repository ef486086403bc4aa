"""The learner's real path, in a real browser: JupyterLab, its table of contents, Markdown and LaTeX,
Run All Cells, the ipywidgets explorers, and nbgrader's extension.

For each chapter (every `solutions/<id>/<id>.ipynb`, so new chapters are picked up):
- the student notebook: open it; the table of contents lists its headings, Markdown and LaTeX
  render (MathJax, no MathJax errors); run all cells (Run > Run All Cells, then, since JupyterLab
  stops at an error, Run > Run Selected Cell and All Below from the next cell, as a learner
  would); every error shown is an exercise stub's NotImplementedError; the explorers render as
  live widgets; nbgrader's Validate button is in the toolbar;
- the solution notebook: run all cells; no error at all; every explorer renders as live widgets,
  and moving a slider changes its plot or readout.
A screenshot of each notebook after running goes to tests/browser/screenshots/.

Run with `make test-browser`. The notebooks are run in place but never saved (autosave is off).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from dlcourse import notebooks

ROOT = notebooks.course_root()
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # the same folder as conftest's
CHAPTERS = notebooks.chapter_ids(ROOT)
RUN_TIMEOUT = 300  # s per notebook: TensorFlow's import alone takes 5-15 s on a loaded machine
WIDGET_TIMEOUT = 60  # s for a moved slider to change its plot (the kernel redraws a figure)
STUB = "raise NotImplementedError()"
MATH = re.compile(r"\$[^$\s][^$]*\$|\$\$.+?\$\$|\\\(|\\\[", re.S)
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
WIDGET_AS_TEXT = re.compile(
    r"^\s*(?:VBox|HBox|Box|GridBox|Tab|Accordion|IntSlider|FloatSlider|FloatLogSlider|IntRangeSlider|"
    r"FloatRangeSlider|SelectionSlider|Dropdown|ToggleButtons|RadioButtons|Image|HTML|HTMLMath|Label|Text|"
    r"Output|Button|Checkbox|Play)\(|Error displaying widget|Loading widget", re.M)

# One JavaScript call reads the whole notebook as the learner sees it.
READ_NOTEBOOK = """
() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook > .jp-Cell, .jp-NotebookPanel .jp-WindowedPanel-viewport > .jp-Cell')).map(cell => {
  const code = cell.classList.contains('jp-CodeCell');
  const prompt = cell.querySelector('.jp-InputArea .jp-InputPrompt');
  const outputs = Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(o => ({
    mime: o.getAttribute('data-mime-type') || '',
    text: o.innerText || '',
    widgets: o.querySelectorAll('.jupyter-widgets').length,
  }));
  return {
    type: code ? 'code' : (cell.classList.contains('jp-MarkdownCell') ? 'markdown' : 'raw'),
    prompt: prompt ? prompt.innerText.trim() : '',
    outputs,
    math: cell.querySelectorAll('.jp-MarkdownOutput mjx-container').length,
    mathErrors: Array.from(cell.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error') || e.textContent),
    headings: cell.querySelectorAll('.jp-MarkdownOutput h1, .jp-MarkdownOutput h2, .jp-MarkdownOutput h3, .jp-MarkdownOutput h4').length,
  };
})
"""

# What a moved slider may change: the explorer's images and its HTML readouts.
EXPLORER_STATE = """
out => ({
  images: Array.from(out.querySelectorAll('img')).map(i => i.src),
  html: Array.from(out.querySelectorAll('.widget-html-content')).map(h => h.innerHTML),
  readouts: Array.from(out.querySelectorAll('.widget-readout')).map(r => r.innerText),
})
"""


# ---------------------------------------------------------------------------- driving JupyterLab


def open_notebook(page, lab, path: Path, expected_cells: int):
    rel = path.relative_to(lab.root).as_posix()
    page.goto(lab.lab_url(rel), timeout=120_000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
    deadline = time.monotonic() + 60
    while len(page.evaluate(READ_NOTEBOOK)) < expected_cells:
        assert time.monotonic() < deadline, f"{rel}: JupyterLab shows fewer than {expected_cells} cells"
        time.sleep(0.5)
    wait_kernel_idle(lab, 120, f"{rel}: the kernel did not start")
    # markdown cells render on load; give MathJax a moment to typeset
    page.wait_for_timeout(1500)


def wait_kernel_idle(lab, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while True:
        kernels = lab.kernels()
        if kernels and all(k["execution_state"] == "idle" for k in kernels):
            return
        states = [k["execution_state"] for k in kernels]
        assert "dead" not in states, f"{message}: the kernel died (server log: {lab.log})"
        assert time.monotonic() < deadline, f"{message} within {timeout:.0f} s (kernel states {states})"
        time.sleep(1)


def menu(page, top: str, item: str):
    """Click a menu bar entry, then an item of its menu, as a learner does."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu .lm-Menu-item .lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).first.click()


def settled(cells) -> bool:
    return not any(c["type"] == "code" and c["prompt"] in ("[*]:", "[*]") for c in cells)


def wait_settled(page, lab, deadline: float, rel: str):
    """Wait until no cell is running or queued and the kernel is idle."""
    while True:
        page.wait_for_timeout(1000)
        cells = page.evaluate(READ_NOTEBOOK)
        if settled(cells):
            try:
                wait_kernel_idle(lab, 2, rel)
                cells = page.evaluate(READ_NOTEBOOK)
                if settled(cells):
                    return cells
            except AssertionError as e:
                if "died" in str(e):
                    raise
        assert time.monotonic() < deadline, (
            f"{rel}: cells still running after {RUN_TIMEOUT} s: "
            f"{[i for i, c in enumerate(cells) if c['prompt'].startswith('[*')]}")


def unexecuted(cells) -> list[int]:
    return [i for i, c in enumerate(cells) if c["type"] == "code" and not re.fullmatch(r"\[\d+\]:?", c["prompt"])]


def run_all(page, lab, rel: str, *, continue_after_errors: bool):
    """Run > Run All Cells. JupyterLab stops at the first error; with continue_after_errors, click the
    next cell not run and Run > Run Selected Cell and All Below, until every code cell has run."""
    deadline = time.monotonic() + RUN_TIMEOUT
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    # A given cell may have its code collapsed (jupyter.source_hidden: ch02's given_slips): JupyterLab then takes
    # its input area, prompt included, out of the page, and whether it ran cannot be read. Expand them first.
    menu(page, "View", "Expand All Code")
    menu(page, "Run", "Run All Cells")
    cells = wait_settled(page, lab, deadline, rel)
    rounds = 1
    while (todo := unexecuted(cells)) and continue_after_errors:
        rounds += 1
        assert rounds < 200, f"{rel}: cells {todo} never run"
        cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(todo[0])
        cell.locator(".jp-InputPrompt").first.click()
        menu(page, "Run", "Run Selected Cell and All Below")
        cells = wait_settled(page, lab, deadline, rel)
        still = unexecuted(cells)
        assert not still or still[0] != todo[0], f"{rel}: cell {todo[0]} does not run (prompt {cells[todo[0]]['prompt']!r})"
    return cells, rounds


# ---------------------------------------------------------------------------- checks


def error_outputs(cells):
    """(cell index, exception name, text) of every traceback shown."""
    found = []
    for i, c in enumerate(cells):
        for o in c["outputs"]:
            if "stderr" not in o["mime"] and "error" not in o["mime"]:
                continue
            text = o["text"]
            m = re.search(r"^(\w[\w.]*)\s+Traceback \(most recent call last\)", text, re.M)
            if m or "Traceback (most recent call last)" in text:
                ename = m.group(1) if m else "?"
                found.append((i, ename.split(".")[-1], text))
    return found


def check_markdown(page, nb, cells, rel: str) -> dict:
    """Headings and LaTeX render, MathJax reports no error, and the table of contents lists the headings."""
    assert len(cells) == len(nb.cells), f"{rel}: JupyterLab shows {len(cells)} cells, the file has {len(nb.cells)}"
    problems, math_cells, headings = [], 0, []
    for i, (cell, shown) in enumerate(zip(nb.cells, cells)):
        if cell.cell_type != "markdown":
            continue
        source = re.sub(r"```.*?```", "", cell.source, flags=re.S)
        cell_headings = HEADING.findall(source)
        headings += [text for _, text in cell_headings]
        if MATH.search(source):
            math_cells += 1
            if not shown["math"]:
                problems.append(f"cell {i}: its LaTeX is not typeset (no MathJax element)")
        if shown["mathErrors"]:
            problems.append(f"cell {i}: MathJax errors {shown['mathErrors']}")
        if cell_headings and not shown["headings"]:
            problems.append(f"cell {i}: its heading is not rendered")
    assert not problems, f"{rel}: Markdown/LaTeX problems:\n" + "\n".join(problems)
    assert headings, f"{rel}: no heading at all"

    toc_tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="table-of-contents"]')
    toc_tab.click()
    toc = page.locator(".jp-TableOfContents-tree .jp-tocItem, .jp-TableOfContents .jp-tocItem")
    toc.first.wait_for(timeout=30_000)
    entries = [t.strip() for t in toc.all_inner_texts()]
    plain = lambda s: re.sub(r"[^\w]+", " ", re.sub(r"\$[^$]*\$|`|\*|_", " ", s)).strip().lower()  # noqa: E731
    listed = " | ".join(plain(e) for e in entries)
    missing = [h for h in headings if plain(h) and plain(h)[:30] not in listed]
    assert len(entries) >= len(headings) and not missing, (
        f"{rel}: the table of contents lists {len(entries)} entries for {len(headings)} headings; missing {missing[:5]}")
    return {"math_cells": math_cells, "toc": len(entries)}


def explorer_indices(nb) -> list[int]:
    """The widget explorers: code cells that import ipywidgets and end with an expression (a VBox)."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(r"^import ipywidgets", c.source, re.M)]


def check_widgets_live(cells, explorers, rel: str):
    """Every explorer shows rendered widget views, and no output shows a widget as text."""
    assert explorers, f"{rel}: no ipywidgets explorer found (a code cell with `import ipywidgets`)"
    for i in explorers:
        views = sum(o["widgets"] for o in cells[i]["outputs"])
        texts = [o["text"][:200] for o in cells[i]["outputs"] if WIDGET_AS_TEXT.search(o["text"])]
        assert views and not texts, (
            f"{rel}: cell {i} shows its widgets as text, not as live controls "
            f"(is the ipywidgets JupyterLab extension loaded?): {texts or [o['text'][:200] for o in cells[i]['outputs']]}")
    as_text = [(i, o["text"][:120]) for i, c in enumerate(cells) for o in c["outputs"] if WIDGET_AS_TEXT.search(o["text"])]
    assert not as_text, f"{rel}: widgets shown as text: {as_text}"


def use_explorer(page, cell_index: int, rel: str) -> str:
    """Use an explorer as a learner does: move its first slider, or, when it has none, type a number into its
    first text box. Returns a description; fails if its plot or readout does not change."""
    out = page.locator(".jp-NotebookPanel .jp-Cell").nth(cell_index).locator(".jp-OutputArea").first
    if out.locator(".widget-slider").count():
        return move_slider(page, cell_index, rel)
    box = out.locator(".widget-text input").first
    assert box.count(), f"{rel}: the explorer in cell {cell_index} has neither a slider nor a text box"
    before, value_before = out.evaluate(EXPLORER_STATE), box.input_value()
    typed = "1e-40" if value_before != "1e-40" else "70000"
    box.fill(typed)
    box.press("Enter")
    wait_changed(page, out, before, f"{rel}: typed {typed!r} into the text box of the explorer in cell {cell_index}")
    return f"text box {value_before!r} -> {typed!r} changed the readout"


def wait_changed(page, out, before: dict, what: str) -> str:
    """Wait until the explorer's images or HTML readouts differ from ``before``; "plot" or "readout"."""
    deadline = time.monotonic() + WIDGET_TIMEOUT
    while True:
        after = out.evaluate(EXPLORER_STATE)
        if after["images"] != before["images"] or after["html"] != before["html"]:
            return "plot" if after["images"] != before["images"] else "readout"
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}, but within {WIDGET_TIMEOUT} s neither its plot nor its readout changed: "
                                 "is the explorer's observe callback broken?")
        page.wait_for_timeout(500)


def move_slider(page, cell_index: int, rel: str) -> str:
    """Move the explorer's first slider by one step with the keyboard and wait for its plot or readout
    to change. Returns a description; fails if nothing changes within WIDGET_TIMEOUT."""
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(cell_index)
    out = cell.locator(".jp-OutputArea").first
    slider = out.locator(".widget-slider").first
    assert slider.count(), f"{rel}: the explorer in cell {cell_index} has no slider"
    label = slider.locator(".widget-label").first.inner_text().strip()
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    before = out.evaluate(EXPLORER_STATE)
    value_before = slider.locator(".widget-readout").first.inner_text().strip()
    for key in ("ArrowLeft", "ArrowRight"):  # the first that moves it (it may start at a bound)
        handle.focus()
        page.keyboard.press(key)
        page.wait_for_timeout(300)
        value = slider.locator(".widget-readout").first.inner_text().strip()
        if value != value_before:
            break
    assert value != value_before, f"{rel}: slider {label!r} in cell {cell_index} does not move with the arrow keys"
    changed = wait_changed(page, out, before,
                           f"{rel}: moved slider {label!r} in cell {cell_index} from {value_before} to {value}")
    return f"slider {label!r} {value_before} -> {value} changed the {changed}"


def screenshot(page, name: str, scroll_to=None) -> Path:
    if scroll_to is not None:
        scroll_to.evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def rel_path(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


# ---------------------------------------------------------------------------- the tests


def check_notebook(page, lab, path: Path, kind: str, name: str) -> str:
    """Everything a learner sees in one notebook. `kind` is "student" or "solution". Returns the
    one-line summary; raises AssertionError on the first problem."""
    start = time.monotonic()
    rel = rel_path(path)
    nb = nbformat.read(path, as_version=4)
    open_notebook(page, lab, path, len(nb.cells))

    cells = page.evaluate(READ_NOTEBOOK)
    md = check_markdown(page, nb, cells, rel)
    page.locator(".jp-NotebookPanel .jp-Toolbar").first.wait_for()
    validate = page.locator(".jp-NotebookPanel .jp-Toolbar").get_by_text("Validate", exact=True)
    assert validate.count(), f"{rel}: nbgrader's Validate button is not in the notebook toolbar (is its lab extension loaded?)"
    shots = [screenshot(page, f"{name}-toc")]

    cells, rounds = run_all(page, lab, rel, continue_after_errors=(kind == "student"))
    todo = unexecuted(cells)
    errors = error_outputs(cells)
    if kind == "student":
        bad = [f"cell {i}: {ename}\n{text[-800:]}" for i, ename, text in errors
               if ename != "NotImplementedError" or STUB not in text]
        assert not bad, f"{rel}: errors other than an exercise stub's NotImplementedError:\n" + "\n\n".join(bad)
        assert errors, f"{rel}: no NotImplementedError at all: are the exercise stubs in place?"
    else:
        assert not errors, f"{rel}: the solution shows errors:\n" + "\n\n".join(
            f"cell {i}: {ename}\n{text[-800:]}" for i, ename, text in errors)
    assert not todo, f"{rel}: code cells {todo} did not run"

    explorers = explorer_indices(nb)
    check_widgets_live(cells, explorers, rel)
    moved = []
    if kind == "solution":
        for i in explorers:
            moved.append(use_explorer(page, i, rel))
    explorer_cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(explorers[0])
    shots.append(screenshot(page, f"{name}-widget", scroll_to=explorer_cell.locator(".jp-OutputArea").first))

    n_code = sum(c.cell_type == "code" for c in nb.cells)
    summary = (
        f"[browser] {kind:8} {path.parent.name}: {n_code} code cells run ({rounds} run command{'s' * (rounds > 1)}), "
        f"{len(errors)} NotImplementedError stubs, 0 other errors, {md['math_cells']} LaTeX cells typeset, "
        f"TOC {md['toc']} entries, {len(explorers)} explorer(s) live"
        + (f" ({'; '.join(moved)})" if moved else "")
        + f", Validate button present, {time.monotonic() - start:.0f} s"
    )
    print("\n" + summary)
    for shot in shots:
        print(f"[browser]   screenshot {rel_path(shot)}")
    return summary


@pytest.mark.parametrize("chapter", CHAPTERS)
@pytest.mark.parametrize("kind", ["student", "solution"])
def test_notebook_in_jupyterlab(page, lab, chapter, kind):
    path = notebooks.student_path(chapter, ROOT) if kind == "student" else notebooks.solution_path(chapter, ROOT)
    before = path.read_bytes()
    try:
        check_notebook(page, lab, path, kind, f"{chapter}-{kind}")
    except Exception:
        shot = screenshot(page, f"{chapter}-{kind}-FAILED")
        print(f"\n[browser] FAILED {kind} {chapter}; screenshot {rel_path(shot)}; server log {rel_path(lab.log)}")
        raise
    assert path.read_bytes() == before, f"{path}: the browser test changed the notebook on disk"


def test_a_broken_widget_fails(page, lab):
    """The checker's own test: chapter 0's solution with its explorer's observe callback removed
    must fail, with a message naming the explorer."""
    source = nbformat.read(notebooks.solution_path("ch00_start", ROOT), as_version=4)
    explorer = explorer_indices(source)[0]
    cell = source.cells[explorer]
    broken = re.sub(r"^(\s*)(\w+\.observe\(.*)$", r"\1pass  # broken on purpose: \2", cell.source, flags=re.M)
    assert broken != cell.source, "ch00_start's explorer has no .observe( line to break"
    cell.source = broken
    folder = SCREENSHOTS / "broken-widget"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ch00_start.ipynb"
    nbformat.write(source, path)
    try:
        with pytest.raises(AssertionError, match="neither its plot nor its readout changed") as failure:
            check_notebook(page, lab, path, "solution", "broken-widget-ch00_start")
        shot = screenshot(page, "broken-widget-ch00_start-FAILED", scroll_to=page.locator(".jp-NotebookPanel .jp-Cell").nth(explorer))
        print(f"\n[browser] a broken widget fails as it should: {str(failure.value).splitlines()[0]}")
        print(f"[browser]   screenshot {rel_path(shot)}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # with the .ipynb_checkpoints JupyterLab leaves behind
