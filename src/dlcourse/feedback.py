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

The page is written by ``FeedbackExporter`` (``c.GenerateFeedback.exporter_class``), nbconvert's HTMLExporter
without its second parse of the whole page; a chapter's Markdown and code, the same in every submission, are
rendered once per process (``markdown2html_mathml``, ``Highlight2HTML``). The same page as before, in about a
tenth of the time from the second submission on: 0.2 s instead of 2.4-2.9 s for chapter 1.

Only Markdown cells' maths is converted; a code cell's ``text/latex`` output stays TeX (the course's
notebooks show none).

The feedback runs no script a student wrote (the instructor opens it from the report, the student from the
exchange or the formgrader). Three layers, each enough alone for scripts:

- Markdown is rendered, then its HTML is cleaned (``sanitize``, bleach's allowlist: the course's own markup, the
  MathML of its maths; no script, no event handler, no style, no ``javascript:`` link). A tag that is not
  allowed shows as text, so the instructor sees what was tried.
- Code cells' outputs pass through ``SanitizeOutputs`` (nbconvert's SanitizeHTML for outputs only): HTML and
  Markdown outputs cleaned the same way, JavaScript, SVG and widget outputs dropped.
- The page carries a Content-Security-Policy that forbids every script, frame, form, font and image that is
  not inline data (``CSP``, emitted in the page's head by this package's ``mathjax.html.j2``).

With no script and no style attribute, nothing can be drawn over the real score.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import re

import jinja2
from nbconvert.filters.highlight import Highlight2HTML as _Highlight2HTML
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

__all__ = ["latex_to_mathml", "markdown2html_mathml", "Highlight2HTML", "template_basedirs", "sanitize", "SanitizeOutputs",
           "FeedbackExporter", "CSP"]

#: The feedback page's policy: its own inline CSS and data: images (plots), nothing else; no script at all.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; form-action 'none'; base-uri 'none'"

_MATHML = ["math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup",
           "msubsup", "mfrac", "msqrt", "mroot", "munder", "mover", "munderover", "mtable", "mtr", "mtd", "mstyle",
           "mpadded", "mphantom", "menclose", "merror"]
#: The markup the course's own Markdown and nbconvert's renderer use (hints in <details>, tables, headings with
#: anchors, code), and MathML.
ALLOWED_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1",
                "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong",
                "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", *_MATHML]
ALLOWED_ATTRIBUTES = {
    "a": ["href", "title", "class", "id"], "img": ["src", "alt", "title", "width", "height"],
    "h1": ["id"], "h2": ["id"], "h3": ["id"], "h4": ["id"], "h5": ["id"], "h6": ["id"],
    "code": ["class"], "pre": ["class"], "span": ["class"], "div": ["class"], "td": ["align", "colspan", "rowspan"],
    "th": ["align", "colspan", "rowspan"], "details": ["open"], "ol": ["start"],
    "math": ["display", "xmlns"], "annotation": ["encoding"], "mo": ["stretchy", "fence", "form", "lspace", "rspace"],
    "mstyle": ["displaystyle", "scriptlevel", "mathvariant"], "mi": ["mathvariant"], "mtext": ["mathvariant"],
    "mtable": ["columnalign", "rowspacing", "columnspacing"], "mtd": ["columnalign"], "mspace": ["width"],
    "mpadded": ["width", "lspace"], "menclose": ["notation"],
}
ALLOWED_PROTOCOLS = ["http", "https", "mailto", "data"]


def sanitize(html_text: str) -> str:
    """HTML with only the allowlist above: everything else escaped (shown as text), links and images only to
    http(s), mailto and data: URLs (a ``data:`` link or image runs no script under the page's policy)."""
    import bleach

    return bleach.clean(html_text, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, protocols=ALLOWED_PROTOCOLS,
                        strip=False, strip_comments=True)

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
        from .grading.text import printable  # the TeX is a student's (a Markdown cell); this goes to the terminal

        log.warning("could not convert LaTeX to MathML (%s: %s): %s", type(err).__name__, printable(err),
                    printable(tex[:80]))
        return f'<code class="tex">{html.escape(tex)}</code>'


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, but maths becomes MathML instead of ``$...$`` left for MathJax."""

    def block_math(self, body: str) -> str:
        return latex_to_mathml(body, display=True)

    def inline_math(self, body: str) -> str:
        return latex_to_mathml(body, display=False)

    def latex_environment(self, name: str, body: str) -> str:
        return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


#: A cell's source longer than this is rendered (or highlighted) each time, not kept: the caches below are for a
#: chapter's own cells, which every submission's feedback shows again. With at most 2,048 Markdown and 1,024 code
#: entries, a class's own cells cannot pin more than about 250 MB (a second review found 100,000 characters and 4,096
#: entries could pin gigabytes).
CACHE_CHARS = 10_000


@jinja2.pass_context
def markdown2html_mathml(context, source: str) -> str:
    """The ``markdown2html`` Jinja filter of nbconvert's HTMLExporter, with MathML maths.

    Same arguments as ``HTMLExporter.markdown2html`` (the cell's attachments, the notebook's folder for
    images) with nbconvert's defaults for the rest (anchor links on headings). A cell without attachments is
    rendered once per process (``_markdown_html_kept``): a chapter's Markdown is the same in every submission.
    """
    cell = context.get("cell", {})
    path = context.get("resources", {}).get("metadata", {}).get("path", "")
    attachments = cell.get("attachments") or {}
    if attachments or len(source) > CACHE_CHARS:
        return _markdown_html(source, path, attachments)
    return _markdown_html_kept(source)


def _markdown_html(source: str, path: str, attachments: dict | None = None) -> str:
    renderer = MathMLRenderer(escape=False, attachments=attachments or {}, path=path)
    return sanitize(MarkdownWithMath(renderer=renderer).render(source))


@functools.lru_cache(maxsize=2048)
def _markdown_html_kept(source: str) -> str:
    """Without attachments the folder is not read (nbconvert's renderer reads it only to embed images, which the
    feedback does not), so the key is the source alone: each submission is graded in a folder of its own."""
    return _markdown_html(source, "")


class Highlight2HTML(_Highlight2HTML):
    """nbconvert's ``highlight_code`` filter, each code cell highlighted once per process (``_highlighted``): a
    chapter's given and test cells, most of a feedback page's code, are the same in every submission.
    ``FeedbackExporter`` makes one with the notebook's lexer, as HTMLExporter makes nbconvert's."""

    def __call__(self, source, language=None, metadata=None):
        language = language or self.pygments_lexer
        magics = (metadata or {}).get("magics_language") if language.startswith("ipython") else None
        if len(source) > CACHE_CHARS:
            return super().__call__(source, language, metadata)
        return _highlighted(source, language, magics, tuple(sorted((k, repr(v)) for k, v in
                                                                  self.extra_formatter_options.items())), self)


_HIGHLIGHTED: dict = {}  # (source, language, magics language, formatter options) -> HTML; the oldest go past 1024


def _highlighted(source, language, magics, options, highlighter) -> str:
    key = (source, language, magics, options)
    if key not in _HIGHLIGHTED:
        if len(_HIGHLIGHTED) >= 1024:
            _HIGHLIGHTED.pop(next(iter(_HIGHLIGHTED)))
        _HIGHLIGHTED[key] = _Highlight2HTML.__call__(highlighter, source, language,
                                                     {"magics_language": magics} if magics else None)
    return _HIGHLIGHTED[key]


@functools.cache
def _feedback_exporter_class():
    from nbconvert.exporters import HTMLExporter, TemplateExporter
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class FeedbackExporter(HTMLExporter):
        """nbconvert's HTMLExporter without its accessibility pass over the finished page, which parses the whole
        page with BeautifulSoup and writes it out again (nbconvert #2021; #2137, still open, would make it optional):
        about half of a feedback page's time, a second per submission. What that pass adds, alt text on images
        that have none, ``SanitizeOutputs`` puts in the outputs' metadata before the page is written; its other
        step, ``tabindex`` on cells, selects JupyterLab's classes, which the classic-based feedback template has none
        of. Set as ``c.GenerateFeedback.exporter_class``.

        The lines before the template's rendering are ``HTMLExporter.from_notebook_node``'s (nbconvert 7.17), with
        this module's cached ``Highlight2HTML`` as the default ``highlight_code`` filter."""

        def from_notebook_node(self, nb, resources=None, **kw):
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            return TemplateExporter.from_notebook_node(self, nb, resources, **kw)

    return FeedbackExporter


#: what nbconvert's accessibility pass writes on an image without alt text
NO_ALT = "No description has been provided for this image"


@functools.cache
def _sanitize_outputs_class():
    from nbconvert.preprocessors.sanitize import SanitizeHTML

    class SanitizeOutputs(SanitizeHTML):
        """nbconvert's SanitizeHTML for code cells' outputs only (Markdown is cleaned after rendering, in
        ``markdown2html_mathml``), with this module's allowlist: text/html and text/markdown outputs cleaned,
        every output type but text, images and JSON dropped (JavaScript, SVG, widgets)."""

        def preprocess_cell(self, cell, resources, cell_index):
            if cell.cell_type == "code":
                cell.outputs = self.sanitize_code_outputs(cell.outputs)
                for out in cell.outputs:  # alt text, as nbconvert's pass would add it (FeedbackExporter)
                    for mime in [m for m in out.get("data", {}) if m.startswith("image/")]:
                        meta = out.setdefault("metadata", {})
                        if (meta.get(mime) or {}).get("alt") is None and meta.get("alt") is None \
                                and cell.metadata.get("alt") is None:  # an alt="" (a decorative image) is kept
                            meta.setdefault(mime, {})["alt"] = NO_ALT
            elif cell.cell_type == "raw":
                cell.source = sanitize(cell.source)
            return cell, resources

        def sanitize_html_tags(self, html_str):
            return sanitize(html_str)

    return SanitizeOutputs


def __getattr__(name):  # made on first use: nbconvert's preprocessors load bleach, its exporters much more
    if name == "SanitizeOutputs":
        return _sanitize_outputs_class()
    if name == "FeedbackExporter":
        return _feedback_exporter_class()
    raise AttributeError(name)


def template_basedirs() -> list[str]:
    """``HTMLExporter.extra_template_basedirs`` for nbgrader's feedback: this package's templates (a
    ``mathjax.html.j2`` that loads nothing), then nbgrader's own, which nbgrader sets when this is unset."""
    import nbgrader

    nbgrader_templates = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")
    return [os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"), nbgrader_templates]
