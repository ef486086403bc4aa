"""The instructor's report on a grading run: ``OUT/report/index.html`` and the files beside it.

One self-contained HTML file (images embedded as base64 PNG, a few lines of inline JavaScript to sort
the student table, no network), readable offline:

- per chapter: the distribution of scores (a histogram), the mean and median of each exercise, and the
  most common failure messages of each exercise with how many students hit each (no names there);
- per student: a sortable table of chapter scores and statuses, each linking to the feedback HTML;
- similar submissions (``similarity``): ranked pairs per chapter, side by side, matching regions marked;
- the roster accounting: students missing from it, roster entries without a submission.

Beside it: ``similarity.csv`` and the gradebook exports (``exports``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from .. import notebooks
from . import exports, late, similarity
from .grades import (FIRST_COLUMNS, LAST_COLUMNS, edited_by_hand, read_grades_csv, read_grades_csv_header,
                     write_atomic, write_grades_csv)
from .submission import STATUSES, chapter_exercises

TOP_FAILURES = 5
SCORED = exports.GRADED  # statuses whose score counts in the statistics: an error, unreadable or missing row has none
ATTENTION = ("error", "unreadable", "missing")  # rows the report lists first


def _histogram_png(fractions: list[float], chapter: str) -> str:
    """A histogram of scores (percent of the maximum) as a base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 2.4), dpi=80)
    ax.hist([100 * f for f in fractions], bins=range(0, 101, 10), color="#4c72b0", edgecolor="white")
    ax.set_xlabel("score, % of the maximum")
    ax.set_ylabel("students")
    ax.set_title(f"{chapter}: {len(fractions)} scored notebook(s)", fontsize=10)
    ax.set_xlim(0, 100)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def chapter_statistics(rows: list[dict], exercises: list[str]) -> dict:
    """For one chapter's rows: score fractions, and per exercise its points, mean, median and the
    most common failure messages with counts (names left out)."""
    scored = [r for r in rows if r["status"] in SCORED]
    stats = {"fractions": [float(r["score"]) / float(r["max_score"]) for r in scored if float(r["max_score"] or 0)],
             "statuses": Counter(r["status"] for r in rows), "exercises": {}}
    failures = [json.loads(r["failures"]) if r.get("failures") else {} for r in scored]
    for ex in exercises:
        values = [float(r[ex]) for r in scored if r.get(ex, "") != ""]
        if not values:
            continue
        stats["exercises"][ex] = {"mean": statistics.fmean(values), "median": statistics.median(values),
                                  "failing": sum(ex in f for f in failures),
                                  "failures": Counter(f[ex] for f in failures if ex in f).most_common(TOP_FAILURES)}
    return stats


# ---------------------------------------------------------------------------- HTML

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;text-align:left}
th{background:#f3f3f3}td.num{text-align:right}.sortable th{cursor:pointer}.sortable th:after{content:" \\2195";color:#999}
.chapter{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1em}pre{background:#f7f7f7;padding:.5em;overflow:auto;font-size:.85em}
mark{background:#ffd27f}.status-missing,.status-unreadable,.status-error,.status-timeout{color:#a00}
"""

SORT_JS = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
    var up = th.dataset.dir !== "asc"; th.dataset.dir = up ? "asc" : "desc";
    var key = function (r) { var c = r.cells[col]; return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent; };
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      var d = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return up ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

e = html.escape


def _table(header: list[str], rows: list[list[str]], cls: str = "", raw: bool = False) -> str:
    """An HTML table of text cells (escaped here), or with ``raw`` of ready ``<td>`` elements."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(c if raw else f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _chapter_section(chapter: str, stats: dict, max_points: dict[str, str]) -> str:
    counts = ", ".join(f"{stats['statuses'][s]} {s}" for s in STATUSES if stats["statuses"][s])
    parts = [f'<h3 id="chapter-{e(chapter)}">{e(chapter)}</h3><p>{counts}.</p><div class="chapter">']
    if stats["fractions"]:
        parts.append(f'<img class="histogram" alt="histogram of {e(chapter)} scores" '
                     f'src="data:image/png;base64,{_histogram_png(stats["fractions"], chapter)}">')
    rows = [[ex, max_points.get(ex, ""), f"{s['mean']:.2f}", f"{s['median']:g}",
             str(s["failing"])] for ex, s in stats["exercises"].items()]
    parts.append(_table(["exercise", "points", "mean", "median", "students with a failure"], rows))
    parts.append("</div>")
    for ex, s in stats["exercises"].items():
        if s["failures"]:
            parts.append(f"<h4>{e(ex)}: most common failures</h4>")
            parts.append(_table(["students", "first line of the failure"], [[str(n), msg] for msg, n in s["failures"]]))
    return "\n".join(parts)


def _students_section(rows: list[dict], roster: dict | None) -> str:
    chapters = sorted({r["chapter"] for r in rows})
    by_student: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_student.setdefault(r["student"], {})[r["chapter"]] = r
    header = ["student", *(["name"] if roster else []), *chapters, "total"]
    table_rows = []
    for student, chs in sorted(by_student.items()):
        cells = [f"<td>{e(student)}</td>"]
        if roster:
            cells.append(f"<td>{e((roster.get(student) or {}).get('name', '(not in roster)'))}</td>")
        for c in chapters:
            r = chs.get(c)
            if r is None:
                cells.append('<td data-sort="-1"></td>')
                continue
            got = exports.exported_score(r)
            text = (f"{got:g} / {float(r['max_score']):g} {r['status']}" + (" late" if r.get("late_hours") else "")
                    if got is not None else f"no grade: {r['status']}")
            link = f"../feedback/{quote(student)}/{quote(c)}/{quote(c)}.html"
            cells.append(f'<td class="num status-{e(r["status"])}" data-sort="{-1 if got is None else got:g}">'
                         f'<a href="{e(link)}">{e(text)}</a></td>')
        total = sum(v for r in chs.values() if (v := exports.exported_score(r)) is not None)
        cells.append(f'<td class="num">{total:g}</td>')
        table_rows.append(cells)
    return ("<p>Click a column's header to sort by it; each score links to that student's feedback.</p>"
            + _table(header, table_rows, "sortable students", raw=True))


def _similarity_section(pairs: list[similarity.Pair], threshold: float) -> str:
    flagged = [p for p in pairs if p.similarity >= threshold]
    parts = ['<p class="note"><b>A lead, not a verdict.</b> These pairs of submissions have answer code that is '
             'alike beyond what the stub and the obvious way of writing it explain (copydetect\'s winnowing, as in '
             'MOSS; variable names and comments do not count). Similar code can be honest: short exercises, a '
             'shared study group, the same tutorial. Read each pair before drawing any conclusion.</p>',
             f"<p>Threshold {threshold:g} (<code>--similarity-threshold</code>): {len(flagged)} pair(s) flagged; "
             f"pairs above half the threshold are listed in similarity.csv.</p>"]
    if flagged:
        rows = [[*(f"<td>{e(x)}</td>" for x in (p.chapter, p.student_a, p.student_b, f"{p.similarity:.2f}")),
                 f'<td><a href="#pair-{i}">side by side</a></td>'] for i, p in enumerate(flagged)]
        parts.append(_table(["chapter", "student A", "student B", "similarity", ""], rows, "similarity", raw=True))
        for i, p in enumerate(flagged):
            parts.append(f'<details id="pair-{i}"><summary>{e(p.chapter)}: {e(p.student_a)} and {e(p.student_b)}, '
                         f'{p.similarity:.2f}</summary><div class="side">'
                         f"<div><b>{e(p.student_a)}</b><pre>{p.code_a}</pre></div>"
                         f"<div><b>{e(p.student_b)}</b><pre>{p.code_b}</pre></div></div></details>")
    else:
        parts.append(_table(["chapter", "student A", "student B", "similarity", ""], [], "similarity"))
        parts.append("<p>No pair reaches the threshold.</p>")
    return "\n".join(parts)


def _attention_section(rows: list[dict], acc: exports.Accounting, roster: dict | None,
                       edited: list[dict] = ()) -> str:
    """What needs the instructor before the grades go anywhere: rows without a grade (empty in the LMS files,
    left out of the statistics), scores changed in grades.csv by hand (``edited``), late rows, and who is
    missing from the roster."""
    order = {s: i for i, s in enumerate(ATTENTION)}
    flagged = sorted((r for r in rows if r["status"] in ATTENTION), key=lambda r: (order[r["status"]], r["student"]))
    parts = []
    if edited:
        parts.append(f"<p>{len(edited)} score(s) were changed in grades.csv by hand after grading. canvas.csv and "
                     "moodle.csv have the new score, but the student's feedback still shows the graded one. To give "
                     "a grade by hand that the feedback shows too, give it in nbgrader's formgrader (Manage "
                     "Submissions) and grade again with <code>dlcourse grade</code>, which brings it back, or "
                     "put the graded score back in grades.csv.</p>")
        parts.append(_table(["student", "chapter", "graded (the feedback shows)", "in grades.csv (exported)"],
                            [[r["student"], r["chapter"], r["graded"], r["now"]] for r in edited], "edited"))
    if flagged:
        parts.append(f"<p>{len(flagged)} row(s) have no grade: their cells in canvas.csv and moodle.csv are empty "
                     "(not 0), and the statistics below leave them out. Each student's feedback says the same.</p>")
        parts.append(_table(["student", "chapter", "status", "why"],
                            [[r["student"], r["chapter"], r["status"], r.get("detail", "")] for r in flagged],
                            "attention"))
    late = [r for r in rows if r.get("late_hours")]
    if late:
        parts.append(f"<p>{len(late)} late submission(s); canvas.csv and moodle.csv have the score after the "
                     "penalty.</p>")
        parts.append(_table(["student", "chapter", "submitted", "hours late", "extension (hours)", "penalty",
                             "score", "exported"],
                            [[r["student"], r["chapter"], r.get("submitted", ""), r["late_hours"],
                              r.get("extension_hours", ""), r.get("penalty", ""), r["score"],
                              exports._num(exports.exported_score(r))] for r in late], "late"))
    if roster is not None and acc.not_in_roster:
        parts.append(f"<p>{len(acc.not_in_roster)} graded student(s) not in the roster, so in no LMS file: "
                     + ", ".join(e(s) for s in acc.not_in_roster) + ".</p>")
    return "\n".join(parts) if parts else "<p>Nothing: every row is a grade.</p>"


def _roster_section(roster: dict | None, acc: exports.Accounting) -> str:
    if roster is None:
        return ("<p>No roster given (<code>--roster roster.csv</code>): the ID columns of canvas.csv and moodle.csv "
                "hold our student ids (the folder or file names of the submissions).</p>")
    parts = [f"<p>{len(roster)} student(s) in the roster.</p>"]
    parts.append(f"<h3>Graded but not in the roster ({len(acc.not_in_roster)})</h3>"
                 + ("<p>Left out of canvas.csv and moodle.csv (no LMS id); they are in grades_wide.csv.</p><ul>"
                    + "".join(f"<li>{e(s)}</li>" for s in acc.not_in_roster) + "</ul>" if acc.not_in_roster
                    else "<p>None.</p>"))
    parts.append(f"<h3>In the roster, without a submission ({len(acc.without_submission)})</h3>"
                 + ("<p>Their rows in the exports have empty grades.</p><ul>"
                    + "".join(f"<li>{e(s)} ({e(roster[s]['name'])})</li>" for s in acc.without_submission) + "</ul>"
                    if acc.without_submission else "<p>None.</p>"))
    return "\n".join(parts)


# ---------------------------------------------------------------------------- the report


def write_similarity_csv(pairs: list[similarity.Pair], path: Path, threshold: float) -> None:
    exports.write_csv(path, ["chapter", "student_a", "student_b", "similarity", "flagged"],
                      [[p.chapter, p.student_a, p.student_b, f"{p.similarity:.3f}",
                        "yes" if p.similarity >= threshold else "no"] for p in pairs])


class Built(NamedTuple):
    """What ``build_report`` made: the path of index.html, and the rows whose score was changed in grades.csv by
    hand after grading (``grades.edited_by_hand``: {student, chapter, graded, now}), which its 'Needs your
    attention' lists and ``dlcourse report`` names."""

    index: Path
    edited: list[dict]


def build_report(out: Path, *, roster_path: Path | None = None, threshold: float = similarity.DEFAULT_THRESHOLD,
                 root: Path | None = None, assignments_path: Path | None = None,
                 extensions_path: Path | None = None, policy: "late.Policy | None" = None,
                 due_dates: dict[str, str] | None = None) -> Built:
    """Write ``out``/report/ (index.html, similarity.csv, the exports) from ``out``/grades.csv and
    ``out``/answers/. The roster, assignments, extensions and late ``policy`` given are kept in ``out`` for the
    next run (``exports.remember``); ``due_dates`` (chapter -> time, nbgrader's gradebook) count where the
    assignments give none. Returns a ``Built``: the path of index.html, and the rows edited by hand it lists."""
    out = Path(out)
    grades = out / "grades.csv"
    if not grades.is_file():
        raise FileNotFoundError(f"no grades.csv in {out}: run `dlcourse grade SUBMISSIONS --out {out}` first")
    if not 0 < threshold <= 1:
        raise ValueError(f"the similarity threshold is a fraction of the code, in (0, 1]; got {threshold}")
    root = root or notebooks.course_root()
    rows = read_grades_csv(grades)
    edited = edited_by_hand(out, rows)
    kept = exports.remember(  # given now: kept in out; not given: the ones kept
        out, roster=exports.read_roster(roster_path) if roster_path else None,
        assignments=exports.read_assignments(assignments_path) if assignments_path else None,
        extensions=late.read_extensions(extensions_path) if extensions_path else None,
        policy=late.policy_dict(policy) if policy is not None else None)
    roster, assignments = kept["roster"], kept["assignments"] or {}
    due = {c: a["due"] for c, a in assignments.items() if a.get("due")}
    for c, when in (due_dates or {}).items():
        due.setdefault(c, when)
    late.apply(rows, due, kept["extensions"] or {}, late.Policy(**(kept["policy"] or {})))
    header = read_grades_csv_header(grades)
    exercise_cols = [c for c in header if c not in FIRST_COLUMNS and c not in LAST_COLUMNS]
    if rows != read_grades_csv(grades) or header[-len(LAST_COLUMNS):] != LAST_COLUMNS:
        write_grades_csv(rows, grades, exercise_cols)  # the late columns, for the instructor's spreadsheet
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    chapters = sorted({r["chapter"] for r in rows})
    submitted = {c: {r["student"] for r in rows if r["chapter"] == c and r["status"] != "missing"} for c in chapters}
    pairs = similarity.class_pairs(out, chapters, root, threshold=threshold, students=submitted)
    write_similarity_csv(pairs, folder / "similarity.csv", threshold)
    exports.write_exports(rows, folder, roster, assignments)
    acc = exports.account(rows, roster)

    sections = []
    for c in chapters:
        ch_rows = [r for r in rows if r["chapter"] == c]
        exercises = [x for x in exercise_cols if any(r.get(x, "") != "" for r in ch_rows)]
        try:
            max_points = {x: f"{p:g}" for x, p in chapter_exercises(c, root).items()}
        except FileNotFoundError:
            max_points = {}
        sections.append(_chapter_section(c, chapter_statistics(ch_rows, exercises), max_points))
    statuses = Counter(r["status"] for r in rows)
    summary = (f"{len({r['student'] for r in rows})} student(s), {len(chapters)} chapter(s), {len(rows)} row(s): "
               + ", ".join(f"{statuses[s]} {s}" for s in STATUSES if statuses[s]) + ".")
    links = " · ".join(f'<a href="{n}">{n}</a>' for n in ("canvas.csv", "moodle.csv", "grades_wide.csv",
                                                         "similarity.csv"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grading report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>Grading report</h1>
<p>{e(summary)} Gradebook files beside this page: {links}.</p>
<h2 id="attention">Needs your attention</h2>{_attention_section(rows, acc, roster, edited)}
<h2>What the class got wrong</h2>{''.join(sections)}
<h2>Students</h2>{_students_section(rows, roster)}
<h2>Similar submissions</h2>{_similarity_section(pairs, threshold)}
<h2>Roster</h2>{_roster_section(roster, acc)}
<script>{SORT_JS}</script></body></html>
"""
    index = folder / "index.html"
    write_atomic(index, page)
    return Built(index, edited)
