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
a class of 3,000 fast: only pairs that share a fingerprint are compared, through an inverted index
(fingerprint -> the files that hold it) on the arrays of the whole chapter (``_overlaps``), with
copydetect's arithmetic; ``tests/grading/test_report.py`` checks that it gives what ``compare_files`` on every
pair gives.

A flagged pair is a lead for a person to look at, never a verdict.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
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
    learner who moved a cell changes nothing; a deleted one is left out; where cells claim one grade_id
    twice, the one graded (``notebooks.answer_cells``)."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # unreadable: graded as such, nothing to compare
        return None
    cells = {gid: c.source for gid, c in notebooks.answer_cells(nb).items()}  # the cells that were graded
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


def _fingerprint(code: str, boilerplate: np.ndarray):
    """copydetect's CodeFingerprint of raw ``code`` (tokenised here, offsets kept for marking the
    matches), the fingerprints in ``boilerplate`` (sorted hashes) discarded."""
    from copydetect import CodeFingerprint

    return CodeFingerprint("answer.py", K, WINDOW, boilerplate=boilerplate, filter=True, fp=io.StringIO(code),
                           language="python")


def _kgram_prints(filtered: str, stub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """copydetect's fingerprints of code tokenised by ``_tokenised``, as two arrays: (hashes, positions
    in ``filtered``), the stub's hashes (``stub``, sorted) discarded.

    These are the steps of ``copydetect.utils.get_document_fingerprints``, with its own ``hashed_kgrams``
    and ``winnow``, and its boilerplate step made by the same ``np.intersect1d(..., assume_unique=True)``
    call, so the result is the same: with a stub, that step also drops every occurrence but the last of
    a k-gram the code repeats (its hashes are not unique); the hash set is unchanged by that. We skip the
    dict of lists it builds from the arrays (hash -> positions), which took a third of the report's time
    at 300 students: the chapter's comparison (``_overlaps``) works on the arrays of the whole class.
    """
    from copydetect.utils import hashed_kgrams, winnow

    hashes, positions = winnow(hashed_kgrams(filtered, K), WINDOW, remove_duplicates=False)
    if len(stub):
        _, overlap, _ = np.intersect1d(hashes, stub, return_indices=True, assume_unique=True)
        hashes, positions = np.delete(hashes, overlap), np.delete(positions, overlap)
    return hashes.astype(np.int64), positions.astype(np.int64)


def _covered(groups: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct value of ``groups``: how many characters the K-grams starting at its
    ``positions`` cover (the length of the union of [p, p + K)). Returns (sorted groups, lengths).

    This is copydetect's ``token_coverage`` of a file (``get_token_coverage``) when the positions are
    its fingerprints', and its overlap of a pair (``get_copied_slices``: runs of K-grams less than K
    apart, end minus start summed) when they are those it shares with the other file.
    """
    order = np.lexsort((positions, groups))
    g, p = groups[order], positions[order]
    covers = np.full(len(p), K, dtype=np.int64)  # the last K-gram of a group covers K characters
    same = g[1:] == g[:-1]
    covers[:-1][same] = np.minimum(np.diff(p), K)[same]  # the others, up to where the next starts
    firsts = np.flatnonzero(np.r_[True, ~same]) if len(g) else np.array([], dtype=np.int64)
    return g[firsts], np.add.reduceat(covers, firsts) if len(g) else np.array([], dtype=np.int64)


def _holders(hashes: np.ndarray, files: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (hash, file) pairs of a chapter's fingerprints, sorted by hash then file, and for
    each pair how many files hold its hash: (hash, file, holders)."""
    order = np.lexsort((files, hashes))
    h, f = hashes[order], files[order]
    distinct = np.r_[True, (h[1:] != h[:-1]) | (f[1:] != f[:-1])] if len(h) else np.zeros(0, bool)
    h, f = h[distinct], f[distinct]
    _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
    return h, f, counts[inverse]


def _overlaps(files: np.ndarray, positions: np.ndarray, hashes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For every ordered pair of files (a, b) that share a fingerprint: how many characters of a's
    code the fingerprints it shares with b cover (copydetect's ``token_overlap`` of a against b).

    An inverted index instead of all n^2/2 comparisons: each fingerprint occurrence (file a, position,
    hash) is paired with the other files that hold its hash (at most ``MAX_SHARE``, common ones being
    dropped before), giving the positions of a shared with each b; their coverage is ``_covered``.
    Returns (a * n + b, characters), sorted by the first.
    """
    h, f, count = _holders(hashes, files)
    shared = count >= 2
    h, f = h[shared], f[shared]
    starts, sizes = np.unique(h, return_index=True, return_counts=True)[1:]  # each hash's run of holders
    kept = np.isin(hashes, h)  # occurrences of hashes that two files or more hold
    a, p = files[kept], positions[kept]
    run = np.searchsorted(h[starts], hashes[kept])
    reps = sizes[run]
    nth = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)  # 0 .. holders - 1 per occurrence
    a, p = np.repeat(a, reps), np.repeat(p, reps)
    b = f[np.repeat(starts[run], reps) + nth]
    other = a != b
    return _covered(a[other] * n + b[other], p[other])


def _marked(code: str, slices) -> str:
    from copydetect.utils import highlight_overlap
    from markupsafe import escape

    if len(slices) == 0 or slices.shape[1] == 0:
        return str(escape(code))
    return highlight_overlap(code, slices, "<mark>", "</mark>", escape_html=True)[0]


def _chapter_prints(filtered: list[str], stub: np.ndarray, max_share: int):
    """The fingerprints a chapter's submissions are compared on, from their tokenised code (``filtered``,
    one per file) and the stub's hashes (``stub``, sorted): those of the stub discarded (copydetect's
    boilerplate), then those of more than ``max_share`` files (MOSS -m), counting the files with at
    least ``MIN_CODE`` characters covered; files with less than that, before or after, are left out.

    Returns (files, positions, hashes) of every fingerprint occurrence kept, each file's coverage
    (``_coverage``, after the common ones are dropped) and the common hashes (sorted).
    """
    prints = [_kgram_prints(f, stub) for f in filtered]
    n = len(prints)
    hashes = np.concatenate([h for h, _ in prints] + [np.empty(0, np.int64)])
    positions = np.concatenate([p for _, p in prints] + [np.empty(0, np.int64)])
    files = np.repeat(np.arange(n), [len(h) for h, _ in prints])
    big = _coverage(files, positions, n)[files] >= MIN_CODE
    hashes, positions, files = hashes[big], positions[big], files[big]
    h, _, holders = _holders(hashes, files)
    common = np.unique(h[holders > max_share])
    kept = ~np.isin(hashes, common)
    hashes, positions, files = hashes[kept], positions[kept], files[kept]
    coverage = _coverage(files, positions, n)
    big = coverage[files] >= MIN_CODE
    return files[big], positions[big], hashes[big], coverage, common


def _similarities(files: np.ndarray, positions: np.ndarray, hashes: np.ndarray, coverage: np.ndarray,
                  n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pair of files a < b that shares a fingerprint, with its similarity as copydetect's
    ``compare_files`` gives it: the larger of a's overlap with b over a's coverage and b's with a over
    b's (integers divided by floats, as it does). Returns (a, b, similarity)."""
    keys, overlap = _overlaps(files, positions, hashes, n)
    a, b = keys // n, keys % n
    share = overlap / coverage[a]
    back = np.searchsorted(keys, b * n + a)  # (b, a): a pair that shares a fingerprint has both
    first = a < b
    return a[first], b[first], np.maximum(share, share[back])[first]


def compare(chapter: str, codes: dict[str, str], stub_code: str = "", *, threshold: float = DEFAULT_THRESHOLD,
            keep_above: float | None = None, max_share: int = MAX_SHARE,
            filtered: dict[str, str] | None = None) -> list[Pair]:
    """The pairs of ``codes`` (student -> stripped answer code) whose similarity is at least
    ``keep_above`` (default: half the threshold), most similar first; flagged pairs (similarity at
    least ``threshold``) come with their code side by side, matches marked.

    ``stub_code``: the chapter's stubs, whose fingerprints are discarded (copydetect's boilerplate);
    ``filtered``: student -> the code already tokenised (``_tokenised``), else it is done here.

    The similarities are copydetect's, computed for the whole chapter at once on arrays
    (``_chapter_prints``, ``_similarities``) rather than by ``compare_files`` on each pair that shares
    a fingerprint, which took most of the report's time (70 s of CPU at 3,000 students).
    """
    keep_above = threshold / 2 if keep_above is None else keep_above
    stub = np.array(sorted(_fingerprint(stub_code, np.empty(0)).hashes) if stub_code.strip() else [], np.int64)
    filtered = _tokenise_all(codes) if filtered is None else filtered
    students = sorted(filtered)
    if len(students) < 2:
        return []
    files, positions, hashes, coverage, common = _chapter_prints([filtered[s] for s in students], stub, max_share)
    a, b, similar = _similarities(files, positions, hashes, coverage, len(students))
    boiler = np.union1d(stub, common)
    pairs = [_pair(chapter, codes, students[i], students[j], float(sim), threshold, boiler)
             for i, j, sim in zip(a, b, similar) if sim >= keep_above]
    pairs.sort(key=lambda p: (-p.similarity, p.student_a, p.student_b))
    return pairs


def _coverage(files: np.ndarray, positions: np.ndarray, n: int) -> np.ndarray:
    """Each of the ``n`` files' token coverage (``_covered``), 0 for a file without fingerprints; floats, as
    copydetect's ``token_coverage`` is (the similarity divides by it)."""
    coverage = np.zeros(n)
    which, covered = _covered(files, positions)
    coverage[which] = covered
    return coverage


def _pair(chapter: str, codes: dict[str, str], a: str, b: str, similar: float, threshold: float,
          boiler: np.ndarray) -> Pair:
    """The ``Pair`` of students ``a`` and ``b``; when flagged (``similar`` at least ``threshold``) with
    their code side by side, tokenised again from the raw code and compared by copydetect's
    ``compare_files`` to mark the matches (its slices in the raw code)."""
    from copydetect import compare_files

    if similar < threshold:
        return Pair(chapter, a, b, similar, "", "")
    fa, fb = _fingerprint(codes[a], boiler), _fingerprint(codes[b], boiler)
    _, _, (slices_a, slices_b) = compare_files(fa, fb)
    return Pair(chapter, a, b, similar, _marked(codes[a], slices_a), _marked(codes[b], slices_b))


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
