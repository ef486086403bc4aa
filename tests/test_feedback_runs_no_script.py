"""Nothing a student wrote runs in a browser that opens our feedback HTML, and nothing can be drawn over the
real score (dlcourse.feedback: Markdown cleaned after rendering, outputs cleaned, a script-free CSP)."""

from __future__ import annotations

import re

import nbformat
from classes import CH, POINTS, TOTAL, answered, student_nb
from dlcourse import feedback, grading
from test_feedback import _course_html_exporter

SCRIPTS = [
    "<script>document.title='PWNED-1'</script>",
    '<img src="x" onerror="document.title=\'PWNED-2\'">',
    '<div style="position:fixed;top:0;left:0;width:100%;background:white;font-size:40px">Score: 6 / 6</div>',
    "<style>h4{display:none}</style>",
    '[a link](javascript:alert("PWNED-3"))',
    '<svg onload="alert(\'PWNED-4\')"></svg>',
    '<iframe src="data:text/html,<script>alert(5)</script>"></iframe>',
    '<a href="#" onclick="alert(6)">click</a>',
]
OUTPUT_HTML = "<script>document.title='PWNED-7'</script><b onmouseover=alert(8)>bold</b>"


def hostile(nb):
    nb.cells.append(nbformat.v4.new_markdown_cell("\n\n".join(SCRIPTS)))
    cell = nbformat.v4.new_code_cell("from IPython.display import HTML, Javascript, display\n"
                                     f"display(HTML({OUTPUT_HTML!r}))\ndisplay(Javascript('alert(9)'))")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": OUTPUT_HTML, "text/plain": "x"}),
                    nbformat.v4.new_output("display_data", data={"application/javascript": "alert(9)"}),
                    nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload='alert(10)'/>"})]
    nb.cells.append(cell)
    return nb


def _unsafe(html: str) -> list[str]:
    """What in ``html`` could run, load or draw: script tags, event handlers, javascript: URLs, style, frames."""
    found = re.findall(r"<script\b[^>]*>(?!\s*</script>)", html, re.I)  # the template itself has none
    found += re.findall(r"<[a-z][^>]*\son[a-z]+\s*=", html, re.I)
    found += re.findall(r"(?:href|src)\s*=\s*[\"']?\s*javascript:", html, re.I)
    found += re.findall(r"<(?:iframe|svg|object|embed)\b", html, re.I)
    found += re.findall(r"<[a-z][^>]*\sstyle\s*=[^>]*position\s*:\s*fixed", html, re.I)
    found += re.findall(r"<style>\s*h4", html, re.I)
    return found


def _render(nb, safe: bool) -> str:
    exporter = _course_html_exporter()
    if safe:
        nb, _ = feedback.SanitizeOutputs().preprocess(nb, {})
    else:  # the defences off: nbconvert's own Markdown filter, outputs as they are
        exporter.filters = {}
        exporter.register_filter("markdown2html", exporter.markdown2html)
    html, _ = exporter.from_notebook_node(
        nb, resources={"nbgrader": {"notebook": "t", "score": 3, "max_score": 6, "late_penalty": 0}})
    return html


def test_the_check_finds_the_scripts_without_the_defences():
    assert len(_unsafe(_render(hostile(nbformat.v4.new_notebook()), safe=False))) >= 5


def test_cleaned_feedback_runs_nothing_and_shows_what_was_tried():
    html = _render(hostile(nbformat.v4.new_notebook()), safe=True)
    assert _unsafe(html) == []
    assert f'content="{feedback.CSP}"' in html, "the page forbids scripts by policy too"
    assert "&lt;script&gt;" in html, "a refused tag shows as text: the instructor sees what was tried"
    assert "<b>bold</b>" in html, "harmless markup stays"


def test_course_markup_survives_cleaning():
    md = ("<details><summary>Hint 1</summary>\n\nUse `np.maximum`.\n\n<details><summary>Hint 2</summary>\n\n"
          "```python\nx = 1\n```\n</details></details>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n$\\frac{a}{b}$")
    html = _render(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(md)]), safe=True)
    assert html.count("<details>") == 2 and "<summary>Hint 2</summary>" in html
    assert "<table>" in html and "<mfrac>" in html


def test_graded_feedback_is_clean(tmp_path):
    """Through the grader: a correct notebook with the hostile cells keeps its honest 6/6, and its feedback
    HTML runs nothing."""
    path = tmp_path / "subs" / "mallet" / CH / f"{CH}.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(hostile(answered(student_nb())), path)
    results, _ = grading.grade_class(tmp_path / "subs", tmp_path / "out", jobs=1, progress=False)
    (r,) = results
    assert (r.status, r.score) == ("graded", TOTAL), r
    html = (tmp_path / "out" / "feedback" / "mallet" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert _unsafe(html) == []
    assert f'content="{feedback.CSP}"' in html
    assert f"(Score: {float(TOTAL)} / {float(TOTAL)})" in html
