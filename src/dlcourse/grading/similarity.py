"""Similar submissions: pairs of students whose answer code is suspiciously alike, per chapter.

What is compared is the students' own code only. At grading time (``save_answer``) the answer cells
(nbgrader ``solution: true``, found by the instructor's grade_ids, in the instructor's order) are
saved as ``answers/<student>/<chapter>.py``, without the stub each answer cell started from
(signature, docstring, ``# YOUR CODE HERE``, ``raise NotImplementedError()``, stripped line by line by
``strip_stub``), so that the template everyone shares does not make every pair look alike. Their
tokens are saved beside them (``<chapter>.tokens.json``): tokenising is the slow part, done once per
submission when it is graded, not for the whole class at every report.

The comparison is copydetect's (https://github.com/blingenf/copydetect), the winnowing of MOSS
(Schleimer, Wilkerson and Aiken, SIGMOD 2003): pygments tokenises the code, every variable name
becomes V and every function name F, comments and whitespace are dropped, and each run of ``K``
characters of what is left is hashed. Renaming variables or reordering functions therefore changes
nothing; only the structure of the code counts. A pair's similarity is copydetect's: the share of a
submission's fingerprinted code that is found in the other, the larger of the two shares.

Two things are ours, both MOSS's own practice: fingerprints of the stub are discarded (copydetect's
boilerplate), and so is any fingerprint found in more than ``MAX_SHARE`` submissions of the chapter
(MOSS's ``-m``, default 10): code that many wrote alike is the obvious way, not a copy. They also keep
a class of 3,000 fast: only pairs that share a fingerprint are compared.

A flagged pair is a lead for a person to look at, never a verdict.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from .. import notebooks

K = 25  # copydetect's noise threshold: matches shorter than 25 characters of tokenised code are ignored
WINDOW = 1  # copydetect's default (guarantee threshold = K): every fingerprint is kept, so results are deterministic
MAX_SHARE = 10  # MOSS -m: a fingerprint in more submissions than this is the obvious way, not a copy
MIN_CODE = 2 * K  # submissions with less tokenised code than this (stubs, one-liners) are not compared
DEFAULT_THRESHOLD = 0.6


# ---------------------------------------------------------------------------- answer code


def chapter_answer_ids(chapter: str, root: Path) -> list[str]:
    """The grade_ids of the chapter's answer cells, in notebook order (from the instructor's source)."""
    nb = nbformat.read(notebooks.solution_path(chapter, root), as_version=4)
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells if notebooks.is_answer_cell(c)]


def chapter_stubs(chapter: str, root: Path) -> dict[str, str]:
    """grade_id -> the stub of each answer cell, as the student notebook hands it out."""
    nb = nbformat.read(notebooks.student_path(chapter, root), as_version=4)
    return {c.metadata.nbgrader["grade_id"]: c.source for c in nb.cells if notebooks.is_answer_cell(c)}


def answer_text(path: Path, answer_ids: list[str]) -> str | None:
    """A submission's answer cells as one Python text, each after a ``# <grade_id>`` line, in the
    order of ``answer_ids``; None when the file is not a notebook. Cells are found by grade_id, so a
    learner who moved a cell changes nothing; a deleted one is left out."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # unreadable: graded as such, nothing to compare
        return None
    cells = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells
             if c.cell_type == "code"}
    return "".join(f"# {gid}\n{cells[gid].rstrip()}\n\n" for gid in answer_ids if gid in cells)


def _tokens_path(answer: Path) -> Path:
    return answer.with_name(f"{answer.stem}.tokens.json")


def _save_tokens(answer: Path, code: str, filtered: str) -> None:
    data = {"sha256": hashlib.sha256(code.encode()).hexdigest(), "filtered": filtered}
    _tokens_path(answer).write_text(json.dumps(data), encoding="utf-8")


def _saved_tokens(answer: Path, code: str) -> str | None:
    """The tokenised code saved beside ``answer``, if it was made from ``code``."""
    try:
        data = json.loads(_tokens_path(answer).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("filtered") if data.get("sha256") == hashlib.sha256(code.encode()).hexdigest() else None


def save_answer(notebook: Path | None, dest: Path, answer_ids: list[str], stubs: dict[str, str]) -> None:
    """At grading time: the learner's answer code (``answer_text``, stubs stripped) to ``dest``, and
    beside it its tokens (``<chapter>.tokens.json``), so that the report does not tokenise it again.
    Both are removed when there is no readable notebook."""
    text = answer_text(notebook, answer_ids) if notebook else None
    if text is None:
        dest.unlink(missing_ok=True)
        _tokens_path(dest).unlink(missing_ok=True)
        return
    code = strip_stub(text, stubs)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(code, encoding="utf-8")
    _save_tokens(dest, code, _tokenised(code)[0])


def strip_stub(text: str, stubs: dict[str, str]) -> str:
    """``text`` (from ``answer_text``) without the lines of each cell's stub: a line is dropped when,
    stripped of indentation, it is a non-empty line of that cell's stub. What is left is the learner's."""
    out, given = [], set()
    for line in text.splitlines():
        if line.startswith("# ") and line[2:].strip() in stubs:
            given = {s.strip() for s in stubs[line[2:].strip()].splitlines() if s.strip()}
            out.append(line)
        elif line.strip() not in given:
            out.append(line)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- comparison


@dataclass
class Pair:
    chapter: str
    student_a: str
    student_b: str
    similarity: float
    code_a: str  # flagged pairs: the compared code, as HTML, matching regions in <mark>; else ""
    code_b: str


def _tokenised(code: str):
    """copydetect's tokenising and filtering (pygments; the slow part): (filtered code, offsets)."""
    from copydetect.utils import filter_code

    return filter_code(code, "answer.py", "python")


def _tokenise_all(codes: dict[str, str]) -> dict[str, str]:
    """student -> filtered code."""
    return {s: _tokenised(c)[0] for s, c in codes.items()}


def _fingerprint(code: str, boilerplate, *, filtered: bool):
    """copydetect's CodeFingerprint of ``code``: raw code (tokenised here, offsets kept for marking
    the matches) or code already tokenised by ``_tokenised`` (``filtered=True``)."""
    from copydetect import CodeFingerprint

    return CodeFingerprint("answer.py", K, WINDOW, boilerplate=np.array(sorted(boilerplate)), filter=not filtered,
                           fp=io.StringIO(code), language="python")


def _without(fingerprint, hashes: set):
    """``fingerprint`` with ``hashes`` discarded, as if they had been boilerplate when it was made
    (copydetect's own steps: drop them from ``hashes`` and ``hash_idx``, count the coverage again)."""
    from copydetect.utils import get_token_coverage

    drop = hashes & fingerprint.hashes
    if drop:
        fingerprint.hashes = fingerprint.hashes - drop
        fingerprint.hash_idx = {h: i for h, i in fingerprint.hash_idx.items() if h not in drop}
        fingerprint.token_coverage = get_token_coverage(fingerprint.hash_idx, K, len(fingerprint.filtered_code))
    return fingerprint


def _marked(code: str, slices) -> str:
    from copydetect.utils import highlight_overlap
    from markupsafe import escape

    if len(slices) == 0 or slices.shape[1] == 0:
        return str(escape(code))
    return highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)[0]


def compare(chapter: str, codes: dict[str, str], stub_code: str = "", *, threshold: float = DEFAULT_THRESHOLD,
            keep_above: float | None = None, max_share: int = MAX_SHARE,
            filtered: dict[str, str] | None = None) -> list[Pair]:
    """The pairs of ``codes`` (student -> stripped answer code) whose similarity is at least
    ``keep_above`` (default: half the threshold), most similar first; flagged pairs (similarity at
    least ``threshold``) come with their code side by side, matches marked.

    ``stub_code``: the chapter's stubs, whose fingerprints are discarded (copydetect's boilerplate);
    ``filtered``: student -> the code already tokenised (``_tokenised``), else it is done here.
    """
    from copydetect import compare_files

    keep_above = threshold / 2 if keep_above is None else keep_above
    stub = _fingerprint(stub_code, (), filtered=False).hashes if stub_code.strip() else set()
    filtered = _tokenise_all(codes) if filtered is None else filtered
    first = {s: _fingerprint(f, stub, filtered=True) for s, f in filtered.items()}
    first = {s: f for s, f in first.items() if f.token_coverage >= MIN_CODE}
    holders = defaultdict(list)
    for s, f in first.items():
        for h in f.hashes:
            holders[h].append(s)
    common = {h for h, who in holders.items() if len(who) > max_share}
    boiler = stub | common
    prints = {s: _without(f, common) for s, f in first.items()}
    prints = {s: f for s, f in prints.items() if f.token_coverage >= MIN_CODE}
    # A pair is compared only if it could reach keep_above: a submission's matched code is at most K
    # characters per occurrence of a fingerprint the two share, so its similarity is at most
    # K * shared occurrences / its code. Most pairs share a fingerprint or two and are skipped.
    shared = defaultdict(lambda: [0, 0])
    for h, who in holders.items():
        if len(who) < 2 or h in common:
            continue
        for a, b in itertools.combinations(sorted(s for s in who if s in prints), 2):
            counts = shared[a, b]
            counts[0] += len(prints[a].hash_idx[h])
            counts[1] += len(prints[b].hash_idx[h])
    pairs = []
    for (a, b), (na, nb) in sorted(shared.items()):
        fa, fb = prints[a], prints[b]
        if max(K * na / fa.token_coverage, K * nb / fb.token_coverage) < keep_above:
            continue
        sim = float(max(compare_files(fa, fb)[1]))
        if sim < keep_above:
            continue
        code_a = code_b = ""
        if sim >= threshold:  # tokenised again from the raw code, to mark the matches in it
            ra, rb = _fingerprint(codes[a], boiler, filtered=False), _fingerprint(codes[b], boiler, filtered=False)
            _, _, (slices_a, slices_b) = compare_files(ra, rb)
            code_a, code_b = _marked(codes[a], slices_a), _marked(codes[b], slices_b)
        pairs.append(Pair(chapter, a, b, sim, code_a, code_b))
    pairs.sort(key=lambda p: (-p.similarity, p.student_a, p.student_b))
    return pairs


def _chapter_pairs(args) -> list[Pair]:
    """``compare`` for one chapter, on ``out``/answers/<student>/<chapter>.py, stubs stripped, with the
    tokens saved beside each (tokenised and saved here where missing or stale)."""
    out, chapter, root, threshold, students = args
    try:
        stubs = chapter_stubs(chapter, root)
    except FileNotFoundError:  # a chapter the course no longer has: nothing to strip
        stubs = {}
    files = {f.parent.name: f for f in sorted((Path(out) / "answers").glob(f"*/{chapter}.py"))
             if students is None or f.parent.name in students}
    codes = {s: strip_stub(f.read_text(encoding="utf-8"), stubs) for s, f in files.items()}
    filtered = {s: _saved_tokens(files[s], c) for s, c in codes.items()}
    for s, tokens in _tokenise_all({s: c for s, c in codes.items() if filtered[s] is None}).items():
        _save_tokens(files[s], codes[s], tokens)
        filtered[s] = tokens
    return compare(chapter, codes, "\n".join(stubs.values()), threshold=threshold, filtered=filtered)


def class_pairs(out: Path, chapters: list[str], root: Path, *, threshold: float = DEFAULT_THRESHOLD,
                students: dict[str, set[str]] | None = None, jobs: int | None = None) -> list[Pair]:
    """The pairs of every chapter (``_chapter_pairs``), one chapter per process on ``jobs`` cores
    (default: all). ``students``: chapter -> the students to compare (those with a row in grades.csv);
    default all."""
    tasks = [(out, c, root, threshold, None if students is None else students.get(c, set())) for c in chapters]
    jobs = min(jobs or len(os.sched_getaffinity(0)), len(tasks))
    if jobs <= 1:
        return [p for t in tasks for p in _chapter_pairs(t)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # forked: a child starts at once, with nothing to import again; a chapter is compared within one process
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        return [p for chapter_pairs in pool.map(_chapter_pairs, tasks) for p in chapter_pairs]
