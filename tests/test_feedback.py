"""Feedback HTML shows its maths without a network: LaTeX becomes MathML, no MathJax from a CDN.

The exporter is configured by the course's own autograde/nbgrader_config.py, as `dlcourse grade` and
plain `nbgrader generate_feedback` configure it.
"""

import os
import re

import nbformat
import nbgrader
from nbconvert.exporters import HTMLExporter
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from dlcourse import notebooks
from dlcourse.feedback import latex_to_mathml


def _course_html_exporter(exporter_class=None):
    """The feedback's exporter as nbgrader's GenerateFeedback makes it with the course's configuration (its exporter
    class, dlcourse.feedback.FeedbackExporter), or ``exporter_class`` with the same configuration."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(notebooks.course_root() / "autograde")).load_config()
    # what nbgrader's GenerateFeedback sets: its template, and the folder of the bootstrap CSS it inlines
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_paths = [os.path.join(
        os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "static", "node_modules", "bootstrap",
        "dist", "css")]
    return (exporter_class or import_item(config.GenerateFeedback.exporter_class))(config=config)


RESOURCES = {"nbgrader": {"notebook": "t", "score": 0, "max_score": 0, "late_penalty": 0}}


def test_feedback_template_writes_mathml_and_loads_nothing_from_the_network():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("The loss $L = \\frac{1}{2}(y - t)^2$ and\n\n$$\\frac{\\partial L}{\\partial y} = y - t$$"),
        nbformat.v4.new_markdown_cell("Code spans keep dollars: `price = '$5'`"),
        nbformat.v4.new_code_cell("cost = '$3 and $4'"),
    ])
    html, _ = _course_html_exporter().from_notebook_node(nb, resources={"nbgrader": {"notebook": "t", "score": 0, "max_score": 0, "late_penalty": 0}})
    assert html.count("<math") == 2, "the inline and the display formula become MathML"
    assert '<math display="block"' in html or 'display="block"' in html
    assert "<mfrac>" in html
    assert "$5" in html and "$3 and $4" in html, "dollars in code are not maths"
    assert not re.search(r"\$\s*L\s*=", html), "no TeX left for MathJax"
    external = re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"(https?:[^\"]+)", html)
    assert external == [], f"the feedback loads {external} from the network"
    assert not re.search(r"<script[^>]*mathjax|MathJax\.Hub", html, re.I), "MathJax is not loaded"


def test_aligned_becomes_a_right_left_table():
    mathml = latex_to_mathml(r"\begin{aligned} a &= b + c \\ d &= e \end{aligned}", display=True)
    assert mathml.count("<mtr>") == 2
    assert re.findall(r'columnalign="(\w+)"', mathml) == ["right", "left"] * 2
    assert "&" not in re.sub(r"&#x[0-9A-Fa-f]+;", "", mathml), "no & shown as text"


def test_operatorname_is_upright():
    mathml = latex_to_mathml(r"\operatorname{softmax}(x)", display=False)
    assert 'mathvariant="normal"' in mathml or "<mi>softmax</mi>" in mathml or "<mo>softmax</mo>" in mathml


def test_unconvertible_latex_is_shown_as_escaped_tex():
    out = latex_to_mathml(r"\frac{<script>", display=False)
    assert "<script>" not in out


def test_the_warning_on_unconvertible_latex_escapes_control_characters(caplog):
    """The TeX is a student's (a Markdown cell of the graded notebook), and the warning reaches the instructor's
    terminal: an ESC sequence in it (OSC 52 writes the clipboard) is logged escaped (issue 27)."""
    with caplog.at_level("WARNING", logger="dlcourse.feedback"):
        latex_to_mathml("\x1b]52;c;cm0gLXJmIH4=\x07 x^", display=False)  # x^: latex2mathml cannot convert it
    logged = "".join(r.getMessage() for r in caplog.records)
    assert "could not convert LaTeX" in logged and "\\x1b]52;c;" in logged
    assert "\x1b" not in logged and "\x07" not in logged


# ----------------------------------------------------------------------------
# The page written in half the time: the same page as nbconvert's HTMLExporter writes


def _page_parts(html: str):
    """What a reader gets from a page: its text, and every element with its attributes, in order (not how the
    markup is spelled: nbconvert's accessibility pass writes the page out again through BeautifulSoup)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    return re.sub(r"\s+", " ", soup.get_text()), [(t.name, sorted(t.attrs.items())) for t in soup.find_all()]


def _chapter_feedback_notebook():
    """A chapter's solution as its feedback shows it (outputs on answer and test cells), with a figure."""
    nb = nbformat.read(notebooks.solution_path("ch00_start"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and not (notebooks.is_answer_cell(cell) or notebooks.is_test_cell(cell)):
            cell.outputs = []
        if notebooks.is_test_cell(cell):
            cell.metadata.nbgrader["score"] = cell.metadata.nbgrader["points"]
    answer = next(c for c in nb.cells if notebooks.is_answer_cell(c))
    answer.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "fig"}))
    return nb


def test_the_feedback_exporter_writes_the_page_html_exporter_writes():
    """Its text, elements and attributes, alt text on the figure included, are nbconvert's HTMLExporter's with the
    same configuration and preprocessors; only the spelling of the markup differs."""
    from dlcourse import feedback

    pages = []
    for exporter_class in (HTMLExporter, None):
        exporter = _course_html_exporter(exporter_class)
        assert (exporter_class is None) == isinstance(exporter, feedback.FeedbackExporter)
        exporter.register_preprocessor(feedback.SanitizeOutputs(), enabled=True)
        pages.append(exporter.from_notebook_node(_chapter_feedback_notebook(), resources=RESOURCES)[0])
    expected, got = (_page_parts(p) for p in pages)
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert ("img", [("alt", feedback.NO_ALT), ("src", "data:image/png;base64,iVBORw0KGgo=")]) in got[1]
    assert len(got[1]) > 1000  # a whole chapter: highlighted code, MathML, tables


def test_the_same_markdown_and_code_are_rendered_once_and_a_change_is_rendered_again():
    from dlcourse import feedback

    feedback._markdown_html_kept.cache_clear()
    feedback._HIGHLIGHTED.clear()

    folders = iter(range(100))

    def page(markdown, code):  # each in a folder of its own, as each submission is graded
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(markdown), nbformat.v4.new_code_cell(code)])
        resources = {**RESOURCES, "metadata": {"path": f"/tmp/dlg-{next(folders)}"}}
        return _course_html_exporter().from_notebook_node(nb, resources=resources)[0]

    first = page("The loss $L = y^2$", "loss = y ** 2")
    again = page("The loss $L = y^2$", "loss = y ** 2")
    assert re.sub(r"cell-id=\w+", "", again) == re.sub(r"cell-id=\w+", "", first)  # new cells, new ids
    assert feedback._markdown_html_kept.cache_info().hits == 1 and len(feedback._HIGHLIGHTED) == 1
    changed = page("The loss $L = y^3$", "loss = y ** 3")
    assert "<mn>3</mn>" in changed and "<mn>2</mn>" not in changed.split("<body")[1]
    assert '<span class="mi">3</span>' in changed and '<span class="mi">2</span>' not in changed.split("<body")[1]
    assert feedback._markdown_html_kept.cache_info().misses == 2 and len(feedback._HIGHLIGHTED) == 2
    page("x" * (feedback.CACHE_CHARS + 1), "y = 1\n" * (feedback.CACHE_CHARS // 6 + 1))  # a pasted blob: not kept
    assert feedback._markdown_html_kept.cache_info().misses == 2 and len(feedback._HIGHLIGHTED) == 2
