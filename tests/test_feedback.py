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

from dlcourse import notebooks
from dlcourse.feedback import latex_to_mathml


def _course_html_exporter():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(notebooks.course_root() / "autograde")).load_config()
    # what nbgrader's GenerateFeedback sets: its template, and the folder of the bootstrap CSS it inlines
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_paths = [os.path.join(
        os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "static", "node_modules", "bootstrap",
        "dist", "css")]
    return HTMLExporter(config=config)


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
