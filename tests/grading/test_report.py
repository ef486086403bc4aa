"""The instructor's side: LMS exports in, grades.csv merged, the report (statistics, similarity, gradebooks).

A generated class of chapter 0 is graded once (module fixture, jobs=2): two near-copies (one with its
variables renamed and its helper functions reordered), four honest solutions written differently, two
stubs, and a notebook saved under another name. Expected grades come from the chapter's points and
from which answers are right; the similarity expectations from how the class was built.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from classes import (
    ANSWERS,
    CH,
    POINTS,
    ROOT,
    TOTAL,
    answered,
    read_csv,
    student_nb,
    write_nb,
)

from dlcourse import grading
from dlcourse.grading import exports, report, similarity, synthetic

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")

# ---------------------------------------------------------------------------- the class

ORIGINAL = {"rel_error": '''def _denominator(a, b):
    # never divide by zero: at least 1e-8
    return np.maximum(1e-8, np.abs(a) + np.abs(b))


def _as_float(v):
    return np.asarray(v, dtype=np.float64)


def rel_error(a, b):
    a, b = _as_float(a), _as_float(b)
    diff = np.abs(a - b)
    return float(np.max(diff / _denominator(a, b)))
''', "numerical_gradient": '''def _bump(x, i, step):
    y = x.copy()
    y[i] += step
    return y


def numerical_gradient(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    grad = np.empty_like(x)
    for i in np.ndindex(*x.shape):
        grad[i] = (f(_bump(x, i, h)) - f(_bump(x, i, -h))) / (2 * h)
    return grad
'''}
COPY = {"rel_error": '''def to_f64(value):
    return np.asarray(value, dtype=np.float64)


def bottom(p, q):
    # avoid 0/0
    return np.maximum(1e-8, np.abs(p) + np.abs(q))


def rel_error(a, b):
    p, q = to_f64(a), to_f64(b)
    gap = np.abs(p - q)
    return float(np.max(gap / bottom(p, q)))
''', "numerical_gradient": '''def numerical_gradient(f, x, h=1e-5):
    arr = np.asarray(x, dtype=np.float64)
    g = np.empty_like(arr)
    for idx in np.ndindex(*arr.shape):
        g[idx] = (f(shifted(arr, idx, h)) - f(shifted(arr, idx, -h))) / (2 * h)
    return g


def shifted(arr, idx, delta):
    out = arr.copy()
    out[idx] += delta
    return out
'''}
LOOPS = {"rel_error": '''def rel_error(a, b):
    a = np.array(a, dtype=float).ravel()
    b = np.array(b, dtype=float).ravel()
    worst = 0.0
    for u, v in zip(a, b):
        scale = max(abs(u) + abs(v), 1e-8)
        worst = max(worst, abs(u - v) / scale)
    return worst
''', "numerical_gradient": '''def numerical_gradient(f, x, h=1e-5):
    x = np.array(x, dtype=float, order="C")  # C order: flat is a view of x
    flat = x.reshape(-1)
    g = np.zeros(flat.size)
    for k in range(flat.size):
        flat[k] += h
        up = f(x)
        flat[k] -= 2 * h
        down = f(x)
        flat[k] += h
        g[k] = (up - down) / (2 * h)
    return g.reshape(x.shape)
'''}
BASIS = {"rel_error": '''def rel_error(a, b):
    num = np.abs(np.subtract(a, b, dtype=np.float64))
    den = np.abs(a) + np.abs(b)
    den = np.where(den < 1e-8, 1e-8, den)
    return float((num / den).max())
''', "numerical_gradient": '''def numerical_gradient(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    basis = np.eye(x.size).reshape((x.size,) + x.shape)
    slopes = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in basis]
    return np.array(slopes).reshape(x.shape)
'''}
NDITER = {"rel_error": '''def rel_error(a, b):
    a64 = np.asarray(a, np.float64)
    b64 = np.asarray(b, np.float64)
    ratio = np.abs(a64 - b64) / np.clip(np.abs(a64) + np.abs(b64), 1e-8, None)
    return ratio.max().item()
''', "numerical_gradient": '''def numerical_gradient(f, x, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        xs = [x.copy(), x.copy()]
        xs[0][i] += h
        xs[1][i] -= h
        out[i] = np.subtract(*map(f, xs)) / (2 * h)
        it.iternext()
    return out
'''}
PRODUCT = {"rel_error": '''def rel_error(a, b):
    left, right = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    top = abs(left - right)
    floor = np.fmax(abs(left) + abs(right), 1e-8)
    return float(np.amax(top / floor))
''', "numerical_gradient": '''import itertools


def numerical_gradient(f, x, h=1e-5):
    base = np.array(x, dtype=np.float64)
    result = np.zeros(base.shape)
    for position in itertools.product(*map(range, base.shape)):
        plus, minus = base.copy(), base.copy()
        plus[position] += h
        minus[position] -= h
        result[position] = (f(plus) - f(minus)) / (2 * h)
    return result
'''}
# student -> answers (None: the stubs as handed out)
CLASS = {"ana": ORIGINAL, "ben": COPY, "cho": LOOPS, "dev": BASIS, "eli": NDITER, "fay": ANSWERS, "gus": None, "hal": None}
HONEST = {"cho", "dev", "eli", "fay"}
RENAMED = "ivy"  # her notebook (PRODUCT, honest too) was saved as "ch00_start (1).ipynb": graded all the same
ROSTER = {s: (f"{1000 + i}", s.capitalize()) for i, s in enumerate(sorted(CLASS))}  # ivy left out
ROSTER["zed"] = ("1999", "Zed")  # in the roster, no submission


def notebook_of(answers):
    return student_nb() if answers is None else answered(student_nb(), **answers)


def write_roster(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lms_id", "name"])
        writer.writerows([s, lms, name] for s, (lms, name) in ROSTER.items())
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs, out = tmp_path_factory.mktemp("subs"), tmp_path_factory.mktemp("out")
    for student, answers in CLASS.items():
        write_nb(subs / student / CH / f"{CH}.ipynb", notebook_of(answers))
    write_nb(subs / RENAMED / CH / f"{CH} (1).ipynb", notebook_of(PRODUCT))
    results, notes = grading.grade_class(subs, out, jobs=2, timeout=30, progress=False)
    roster = write_roster(tmp_path_factory.mktemp("roster") / "roster.csv")
    index = report.build_report(out, roster_path=roster).index
    return {"subs": subs, "out": out, "results": {r.student: r for r in results}, "notes": notes,
            "roster": roster, "index": index, "html": index.read_text(encoding="utf-8")}


def grades_of(out: Path) -> dict[str, tuple]:
    return {r["student"]: (r["status"], float(r["score"]), *(float(r[ex]) for ex in POINTS))
            for r in grading.read_grades_csv(out / "grades.csv")}


def expected_score(answers) -> float:
    return 0.0 if answers is None else TOTAL


# ---------------------------------------------------------------------------- grading the class


def test_the_class_is_graded_as_built(graded):
    got = {s: (r.status, r.score) for s, r in graded["results"].items()}
    assert got == {**{s: ("graded", expected_score(a)) for s, a in CLASS.items()}, RENAMED: ("graded", TOTAL)}


def test_a_notebook_under_another_name_is_graded_with_a_note(graded):
    assert any(f"{RENAMED}/{CH}: graded '{CH} (1).ipynb', the only notebook there" in n for n in graded["notes"])


def test_grades_csv_keeps_failures_and_the_notebook_hash(graded):
    rows = {r["student"]: r for r in grading.read_grades_csv(graded["out"] / "grades.csv")}
    header = next(csv.reader(open(graded["out"] / "grades.csv", encoding="utf-8")))
    assert header[-3:] == ["detail", "failures", "sha256"], "sha256 is the last column"
    stub_failures = json.loads(rows["gus"]["failures"])
    assert set(stub_failures) == set(POINTS) and all(m.startswith("NotImplementedError") for m in stub_failures.values())
    assert rows["ana"]["failures"] == ""
    nb = graded["subs"] / "ana" / CH / f"{CH}.ipynb"
    assert rows["ana"]["sha256"] == hashlib.sha256(nb.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- similarity


def test_near_copies_are_flagged_and_honest_solutions_and_stubs_are_not(graded):
    with open(graded["out"] / "report" / "similarity.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    flagged = {(r["student_a"], r["student_b"]) for r in rows if r["flagged"] == "yes"}
    assert flagged == {("ana", "ben")}, rows
    listed = {s for r in rows for s in (r["student_a"], r["student_b"])}
    assert not listed & {"gus", "hal"}, "stubs are never compared: the template is not the students' code"
    threshold = similarity.DEFAULT_THRESHOLD
    assert all(float(r["similarity"]) >= threshold / 2 for r in rows), "only pairs above half the threshold"
    for r in rows:
        if {r["student_a"], r["student_b"]} <= HONEST | {RENAMED}:
            assert float(r["similarity"]) < threshold


def test_the_report_shows_the_flagged_pair_side_by_side(graded):
    html = graded["html"]
    assert "A lead, not a verdict." in html
    pair = html[html.index('<details id="pair-0">'):]
    pair = pair[:pair.index("</details>")]
    assert "ana" in pair and "ben" in pair and pair.count("<mark>") >= 2
    assert "gap" in pair and "diff" in pair, "each side shows its own code, variable names as written"


def test_strip_stub_leaves_only_the_learners_lines():
    stubs = similarity.chapter_stubs(CH, ROOT)
    ids = similarity.chapter_answer_ids(CH, ROOT)
    assert set(ids) == set(POINTS)
    text = "".join(f"# {g}\n{stubs[g]}\n" for g in ids)
    assert similarity.strip_stub(text, stubs).split() == [w for g in ids for w in ("#", g)], "a stub strips to nothing"
    mine = text.replace("raise NotImplementedError()", "return 42", 1)
    assert "return 42" in similarity.strip_stub(mine, stubs)


def copydetect_all_pairs(codes: dict[str, str], stub_code: str, keep_above: float, max_share: int) -> dict:
    """The reference: every pair of ``codes`` compared by copydetect's own API (CodeFingerprint on the raw
    code, tokenising included, and compare_files), the rules of the similarity module's docstring applied
    here: the stub's fingerprints are boilerplate; files covering less than MIN_CODE characters are left
    out; a fingerprint held by more than ``max_share`` of the remaining files is boilerplate too.
    Returns (student a, student b) -> similarity, for the pairs at least ``keep_above``."""
    import io
    import itertools
    from collections import Counter

    import numpy as np
    from copydetect import CodeFingerprint, compare_files

    def fingerprint(code, boilerplate):
        return CodeFingerprint("answer.py", similarity.K, similarity.WINDOW, boilerplate=np.array(sorted(boilerplate)),
                               fp=io.StringIO(code), language="python")

    stub = fingerprint(stub_code, []).hashes
    first = {s: fingerprint(c, stub) for s, c in codes.items()}
    first = {s: f for s, f in first.items() if f.token_coverage >= similarity.MIN_CODE}
    holders = Counter(h for f in first.values() for h in f.hashes)
    common = {h for h, n in holders.items() if n > max_share}
    prints = {s: fingerprint(codes[s], stub | common) for s in first}
    prints = {s: f for s, f in prints.items() if f.token_coverage >= similarity.MIN_CODE}
    pairs = {(a, b): float(max(compare_files(prints[a], prints[b])[1]))
             for a, b in itertools.combinations(sorted(prints), 2)}
    return {ab: sim for ab, sim in pairs.items() if sim >= keep_above}


# five students write the same helper; two of them also the same short function: with max_share 3 the
# helper is common, and what is left of the two covers less than MIN_CODE (they are not compared)
HELPER = """def helper(x, w):
    total = np.sum(x) * 3
    for i in range(x.shape[0]):
        total += x[i] ** 2
    return total / w
"""
SAME_HELPER = {f"zz{i}": HELPER + ("\n\ndef extra(v):\n    return v[1:] - v[:-1]\n" if i < 2 else
                                   f"\n\ndef other{i}(q):\n    return q * {i}\n") for i in range(5)}


@pytest.mark.parametrize("keep_above, max_share", [(0.3, similarity.MAX_SHARE), (0.02, 3)])
def test_the_inverted_index_finds_what_copydetect_finds_on_every_pair(tmp_path, keep_above, max_share):
    """compare() looks only at pairs that share a fingerprint, on arrays; copydetect on all n^2/2 pairs
    must find the same pairs with the same similarities, here with the default cut-offs and with low
    ones that keep most pairs and make many fingerprints common (``SAME_HELPER``)."""
    students = synthetic.make_class(tmp_path, 40, copy_every=7)
    tried = 0
    for chapter in ("ch00_start", "ch03_lstm"):
        stubs = similarity.chapter_stubs(chapter, ROOT)
        codes = {s: similarity.strip_stub((tmp_path / "answers" / s / f"{chapter}.py").read_text(), stubs)
                 for s in students if (tmp_path / "answers" / s / f"{chapter}.py").is_file()} | SAME_HELPER
        stub_code = "\n".join(stubs.values())
        expected = copydetect_all_pairs(codes, stub_code, keep_above, max_share)
        got = similarity.compare(chapter, codes, stub_code, threshold=0.6, keep_above=keep_above, max_share=max_share)
        assert {(p.student_a, p.student_b): p.similarity for p in got} == pytest.approx(expected, rel=1e-12, abs=0)
        assert [p.similarity for p in got] == sorted((p.similarity for p in got), reverse=True)
        assert all(("<mark>" in p.code_a) == (p.similarity >= 0.6) for p in got), "flagged pairs are marked"
        tried += len(expected)
    assert tried >= (4 if keep_above > 0.1 else 100), "a comparison of nothing proves nothing"


# ---------------------------------------------------------------------------- the report and the exports


def test_report_statistics_and_failures_without_names(graded):
    html = graded["html"]
    assert html.count('class="histogram"') == 1 and "data:image/png;base64," in html
    wrong = html[html.index("What the class got wrong"):html.index("<h2>Students</h2>")]
    assert "NotImplementedError" in wrong
    assert "<td>2</td><td>NotImplementedError" in wrong, "two stubs: two students hit NotImplementedError"
    for student in [*CLASS, RENAMED]:
        assert f">{student}<" not in wrong, "the class view names no student"
    means = {ex: sum(graded["results"][s].exercises[ex][0] for s in graded["results"]) / len(graded["results"])
             for ex in POINTS}
    for ex, mean in means.items():
        assert f"<td>{ex}</td><td>{POINTS[ex]:g}</td><td>{mean:.2f}</td>" in wrong


def test_student_table_links_every_feedback(graded):
    html = graded["html"]
    for student in [*CLASS, RENAMED]:
        link = f"../feedback/{student}/{CH}/{CH}.html"
        assert f'href="{link}"' in html
        assert (graded["index"].parent / link).resolve().is_file()
    assert 'class="sortable students"' in html and "<script>" in html and "src=\"http" not in html


def test_exports_parse_back_to_grades_csv_and_everyone_is_accounted_for(graded):
    folder, html = graded["out"] / "report", graded["html"]
    scores = {s: score for s, (_, score, *_) in grades_of(graded["out"]).items()}
    by_lms = {lms: s for s, (lms, _) in ROSTER.items()}
    canvas = read_csv(folder / "canvas.csv")
    assert list(canvas[0])[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[0]["Student"] == "Points Possible" and float(canvas[0][CH]) == TOTAL
    moodle = read_csv(folder / "moodle.csv")
    for rows, key in ((canvas[1:], "ID"), (moodle, "ID number")):
        got = {by_lms[r[key]]: r[CH] for r in rows}
        assert got == {**{s: f"{scores[s]:g}" for s in CLASS}, "zed": ""}, "roster names, our scores, zed empty"
    wide = {r["student"]: r for r in read_csv(folder / "grades_wide.csv")}
    assert set(wide) == set(scores) | {"zed"}
    assert all(float(wide[s][CH]) == scores[s] == float(wide[s]["total"]) for s in scores)
    roster = html[html.index("<h2>Roster</h2>"):]
    assert "Graded but not in the roster (1)" in roster and f"<li>{RENAMED}</li>" in roster
    assert "In the roster, without a submission (1)" in roster and "<li>zed (Zed)</li>" in roster


def test_a_score_changed_in_grades_csv_by_hand_is_named(graded, tmp_path, capsys):
    """Issue 27: a score edited in grades.csv reached canvas.csv while the feedback kept the graded one, and
    nothing said so. The grader records each row's score as graded (.dlcourse/scores.json); the report names
    the rows that differ and says where a hand grade belongs (the formgrader)."""
    from dlcourse import cli

    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    rows = grading.read_grades_csv(out / "grades.csv")
    before = report.build_report(out, roster_path=graded["roster"]).index.read_text(encoding="utf-8")
    assert "changed in grades.csv by hand" not in before, "nothing edited yet"
    graded_score = next(r for r in rows if r["student"] == "ana")["score"]
    for r in rows:
        if r["student"] == "ana":
            r["score"] = "1.5"
    from dlcourse.grading import grades

    header = grades.read_grades_csv_header(out / "grades.csv")
    grading.write_grades_csv(rows, out / "grades.csv", [c for c in header if c in POINTS])

    built = report.build_report(out, roster_path=graded["roster"])
    assert built.edited == [{"student": "ana", "chapter": CH, "graded": graded_score, "now": "1.5"}], \
        "the rows it lists, which `dlcourse report` names"
    html = built.index.read_text(encoding="utf-8")
    attention = html[html.index('id="attention"'):html.index("What the class got wrong")]
    assert "1 score(s) were changed in grades.csv by hand" in attention and "formgrader" in attention
    assert "<td>ana</td>" in attention and f"<td>{graded_score}</td>" in attention and "<td>1.5</td>" in attention
    canvas = read_csv(out / "report" / "canvas.csv")
    assert [r[CH] for r in canvas if r["ID"] == ROSTER["ana"][0]] == ["1.5"], "the export has the edit"
    assert cli.main(["report", str(out)]) == 0
    assert "ana/ch00_start " in capsys.readouterr().out


def test_the_hand_edit_line_escapes_a_student_id_s_control_characters(tmp_path, capsys):
    """A student id comes from a folder or an LMS file name the student chose: an ESC sequence in it (here OSC 52,
    which writes the instructor's clipboard) is printed escaped by `dlcourse report`, never raw."""
    from dlcourse import cli
    from dlcourse.grading import grades

    out = tmp_path / "out"
    out.mkdir()
    evil = "ana\x1b]52;c;cm0gLXJmIH4=\x07"
    row = {"student": evil, "chapter": CH, "score": "6", "max_score": "6", "status": "graded"}
    grading.write_grades_csv([row], out / "grades.csv", [])
    grades.record_scores(out, [{**row, "score": "3"}])
    assert cli.main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\\x1b]52" in printed and "3 -> 6" in printed


def test_roster_errors_are_clear(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("id,name\n1,A\n")
    with pytest.raises(ValueError, match="needs a 'student' column"):
        exports.read_roster(bad)
    bad.write_text("student,lms_id\na,1\na,2\n")
    with pytest.raises(ValueError, match="'a' appears twice"):
        exports.read_roster(bad)


# ---------------------------------------------------------------------------- re-grading into an existing --out


def test_regrading_one_student_keeps_every_other_row(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded["out"], out)
    before = grading.read_grades_csv(out / "grades.csv")
    feedback = {p: p.read_bytes() for p in (out / "feedback").rglob("*.html")}
    again = tmp_path / "again"
    write_nb(again / "ana" / CH / f"{CH}.ipynb", student_nb())  # ana now hands in the stub

    results, _ = grading.grade_class(again, out, jobs=1, timeout=30, progress=False)

    assert [(r.student, r.score) for r in results] == [("ana", 0.0)]
    after = grading.read_grades_csv(out / "grades.csv")
    assert [r for r in after if r["student"] != "ana"] == [r for r in before if r["student"] != "ana"]
    ana = next(r for r in after if r["student"] == "ana")
    assert float(ana["score"]) == 0 and ana["sha256"] != next(r for r in before if r["student"] == "ana")["sha256"]
    for path, data in feedback.items():
        if path.relative_to(out / "feedback").parts[0] == "ana":
            assert path.read_bytes() != data, "ana's feedback is replaced"
        else:
            assert path.read_bytes() == data, f"{path} must be left alone"


# ---------------------------------------------------------------------------- LMS layouts


LMS_STUDENTS = {"ana": ("Ana Ames", 101), "cho": ("Cho Chen", 102), "gus": ("Gus Gray", 103)}


def moodle_zip(subs: Path, path: Path) -> Path:
    """Moodle's "Download all submissions" with "download submissions in folders" on."""
    with zipfile.ZipFile(path, "w") as zf:
        for student, (name, pid) in LMS_STUDENTS.items():
            zf.write(subs / student / CH / f"{CH}.ipynb", f"{name}_{pid}_assignsubmission_file_/{CH}.ipynb")
        zf.writestr("Gus Gray_103_assignsubmission_onlinetext_/onlinetext.html", "<p>see my notebook</p>")
    return path


def canvas_zip(subs: Path, path: Path) -> Path:
    """Canvas's "Download Submissions": flat, login_userid_fileid_name; Cho's is late, Gus's a second upload."""
    with zipfile.ZipFile(path, "w") as zf:
        for i, (student, (name, pid)) in enumerate(LMS_STUDENTS.items()):
            login = name.lower().replace(" ", "")
            late = "_LATE" if student == "cho" else ""
            original = f"{CH}-1.ipynb" if student == "gus" else f"{CH}.ipynb"
            zf.write(subs / student / CH / f"{CH}.ipynb", f"{login}{late}_{pid}_{5000 + i}_{original}")
    return path


@pytest.mark.parametrize("kind", ["moodle", "canvas"])
def test_moodle_and_canvas_exports_give_our_layout_s_grades(graded, tmp_path, kind):
    zpath = (moodle_zip if kind == "moodle" else canvas_zip)(graded["subs"], tmp_path / f"{kind}.zip")
    results, notes = grading.grade_class(zpath, tmp_path / "out", jobs=2, timeout=30, progress=False)  # no --chapter
    ids = {s: (f"{name}_{pid}" if kind == "moodle" else f"{name.lower().replace(' ', '')}_{pid}")
           for s, (name, pid) in LMS_STUDENTS.items()}
    ours = grades_of(graded["out"])
    assert grades_of(tmp_path / "out") == {ids[s]: ours[s] for s in LMS_STUDENTS}
    assert any(f"graded as {CH}" in n for n in notes)


# ---------------------------------------------------------------------------- the command, on a generated class
