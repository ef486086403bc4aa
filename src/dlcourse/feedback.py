"""Feedback HTML that shows its maths without a network.

nbgrader's feedback template (``GenerateFeedback``, an nbconvert ``HTMLExporter``) leaves the LaTeX of
Markdown cells as ``$...$`` text and loads MathJax 2 from a CDN to typeset it, so a student who opens
their feedback offline sees raw TeX. Here the LaTeX becomes MathML when the HTML is written
(``latex2mathml``), which browsers render natively (Chromium since 109, Firefox, Safari), and the
template's MathJax ``<script>`` from the CDN is left out, so the file makes no network request for maths.

Both are nbconvert configuration, set in the course's ``autograde/nbgrader_config.py``, so they apply
to ``dlcourse grade`` and to plain ``nbgrader generate_feedback`` alike::

    c.HTMLExporter.filters = {"markdown2html": "dlcourse.feedback.markdown2html_mathml"}
    c.HTMLExporter.extra_template_basedirs = dlcourse.feedback.template_basedirs()

The second puts ``templates/feedback/mathjax.html.j2`` of this package before nbconvert's own
``base/mathjax.html.j2``, whose macro writes the CDN ``<script>``; every HTML template, nbgrader's
feedback one included, imports the macro from that file by name.

Only Markdown cells' maths is converted; a code cell's ``text/latex`` output stays TeX (the course's
notebooks show none).
"""

from __future__ import annotations

import html
import logging
import os
import re

import jinja2
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

__all__ = ["latex_to_mathml", "markdown2html_mathml", "template_basedirs"]

log = logging.getLogger(__name__)


def _aligned_as_array(match: re.Match) -> str:
    body = match.group(1)
    columns = 1 + max(row.count("&") for row in body.split(r"\\"))
    return rf"\begin{{array}}{{{('rl' * columns)[:columns]}}}{body}\end{{array}}"


def _for_latex2mathml(tex: str) -> str:
    r"""Three rewrites of what latex2mathml 3.81 renders badly: ``\operatorname{name}`` (italic letters)
    becomes ``\mathrm{name}``; ``\_`` in ``\text``/``\texttt`` (shown with its backslash) becomes ``_``;
    ``aligned`` (unsupported: its ``&`` come out as text) becomes an ``array`` of alternately right- and
    left-aligned columns, which is how ``aligned`` sets them."""
    tex = tex.replace(r"\operatorname", r"\mathrm")
    tex = re.sub(r"\\(text|texttt)\{([^{}]*)\}", lambda m: rf"\{m[1]}{{{m[2].replace(chr(92) + '_', '_')}}}", tex)
    return re.sub(r"\\begin\{aligned\}(.*?)\\end\{aligned\}", _aligned_as_array, tex, flags=re.S)


def latex_to_mathml(tex: str, display: bool) -> str:
    """``tex`` as a ``<math>`` element (``display="block"`` or inline). Where latex2mathml cannot convert
    it, the TeX itself, escaped, in a ``<code class="tex">``: readable, and never raw HTML."""
    from latex2mathml.converter import convert

    try:
        return convert(_for_latex2mathml(tex), display="block" if display else "inline")
    except Exception as err:  # latex2mathml raises its own exception types for unsupported input
        log.warning("could not convert LaTeX to MathML (%s: %s): %s", type(err).__name__, err, tex[:80])
        return f'<code class="tex">{html.escape(tex)}</code>'


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, but maths becomes MathML instead of ``$...$`` left for MathJax."""

    def block_math(self, body: str) -> str:
        return latex_to_mathml(body, display=True)

    def inline_math(self, body: str) -> str:
        return latex_to_mathml(body, display=False)

    def latex_environment(self, name: str, body: str) -> str:
        return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


@jinja2.pass_context
def markdown2html_mathml(context, source: str) -> str:
    """The ``markdown2html`` Jinja filter of nbconvert's HTMLExporter, with MathML maths.

    Same arguments as ``HTMLExporter.markdown2html`` (the cell's attachments, the notebook's folder for
    images) with nbconvert's defaults for the rest (anchor links on headings).
    """
    cell = context.get("cell", {})
    path = context.get("resources", {}).get("metadata", {}).get("path", "")
    renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}), path=path)
    return MarkdownWithMath(renderer=renderer).render(source)


def template_basedirs() -> list[str]:
    """``HTMLExporter.extra_template_basedirs`` for nbgrader's feedback: this package's templates (a
    ``mathjax.html.j2`` that loads nothing), then nbgrader's own, which nbgrader sets when this is unset."""
    import nbgrader

    nbgrader_templates = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")
    return [os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"), nbgrader_templates]
