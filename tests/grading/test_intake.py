"""Finding a class's notebooks (``grading.intake``): zips, Moodle and Canvas exports, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import zipfile

import pytest
from classes import (
    CH,
    ROOT,
    student_nb,
    write_nb,
)

from dlcourse.grading import intake
from dlcourse.grading import intake as grading_intake

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the grading sandbox (bwrap) is Linux only")


def test_intake_reads_moodle_flat_files_and_takes_the_newest(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    for name, stamp in ((f"Ana Ames_101_assignsubmission_file_{CH}.ipynb", 1_000), (f"Ana Ames_101_assignsubmission_file_{CH} (2).ipynb", 2_000)):
        write_nb(folder / name, student_nb())
        os.utime(folder / name, (stamp, stamp))
    items, notes = intake.find_submissions(folder, [CH], ROOT)
    assert items == [("Ana Ames_101", CH, folder / f"Ana Ames_101_assignsubmission_file_{CH} (2).ipynb")]
    assert any("2 notebooks; graded the newest" in n for n in notes)


def test_an_lms_export_of_no_known_chapter_asks_for_chapter(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "annbell_7_8_homework.ipynb").write_text('{"cells": []}')
    with pytest.raises(ValueError, match="cannot tell which chapter this Canvas export is.*--chapter"):
        intake.find_submissions(folder, ["ch00_start", "ch01_gradient_descent"], ROOT)
    items, _ = intake.find_submissions(folder, [CH], ROOT)  # with --chapter
    assert items == [("annbell_7", CH, folder / "annbell_7_8_homework.ipynb")]


def test_a_batch_without_notebooks_is_an_error(tmp_path):
    (tmp_path / "subs" / "Ana Ames_101_assignsubmission_file_").mkdir(parents=True)
    (tmp_path / "subs" / "Ana Ames_101_assignsubmission_file_" / "essay.pdf").write_text("%PDF")
    proc = subprocess.run([sys.executable, "-m", "dlcourse.cli", "grade", str(tmp_path / "subs"), "--out",
                           str(tmp_path / "out"), "--chapter", CH], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "no notebook found" in proc.stderr and "Moodle:" in proc.stderr and "Canvas:" in proc.stderr
    assert not (tmp_path / "out" / "grades.csv").exists()


def test_safe_extract_refuses_paths_outside_and_reports_duplicates(tmp_path, recwarn):
    dest = tmp_path / "zips" / "dest"
    dest.mkdir(parents=True)
    outside = tmp_path / f"abs-{uuid.uuid4().hex[:8]}.txt"
    unsafe = ["../evil.txt", "a/../../evil2.txt", str(outside), f"{dest}/inside-but-absolute.txt", ".",
              "export/alice/../bob/back-and-forth.ipynb"]
    zpath = tmp_path / "class.zip"
    with zipfile.ZipFile(zpath, "w") as zf:  # zipfile warns about the duplicate name: recwarn takes it
        zf.writestr("export/alice/", "")
        zf.writestr("export/alice/nb.ipynb", "first")
        for name in unsafe:
            zf.writestr(name, "x")
        zf.writestr("export/bob/nb.ipynb", "bob's")
        zf.writestr("export/alice/nb.ipynb", "second")

    notes = grading_intake._safe_extract(zpath, dest)

    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == [
        "export", "export/alice", "export/alice/nb.ipynb", "export/bob", "export/bob/nb.ipynb"]
    assert (dest / "export/alice/nb.ipynb").read_text() == "second", "the last of two entries is the one graded"
    assert (dest / "export/bob/nb.ipynb").read_text() == "bob's"
    assert not outside.exists() and not (tmp_path / "zips" / "evil.txt").exists()
    assert not (tmp_path / "evil2.txt").exists()
    assert sorted(notes) == sorted([f"skipped unsafe path in zip: {n!r}" for n in unsafe] +
                                   ["duplicate entry in zip: 'export/alice/nb.ipynb' (the last one is graded)"])


def test_a_500_mb_notebook_is_refused_unread_with_what_to_do(tmp_path):
    """A notebook of 500 MB (a sparse file: no disk used) becomes an unreadable row that says how to fix it,
    and a feedback page that says so; the grading process never reads it."""
    from dlcourse import grading

    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "bigby" / CH).mkdir(parents=True)
    with open(subs / "bigby" / CH / f"{CH}.ipynb", "wb") as f:
        f.truncate(500 * 2**20)
    results, _ = grading.grade_class(subs, out, progress=False)
    (r,) = results
    assert (r.status, r.score) == ("unreadable", 0), r
    assert "is 500 MB" in r.detail and "Clear Outputs" in r.detail, r.detail
    page = (out / "feedback" / "bigby" / CH / f"{CH}.html").read_text(encoding="utf-8")
    assert "Clear Outputs" in page


def test_a_zip_bomb_is_not_unpacked(tmp_path, monkeypatch):
    """An entry larger than a notebook may be is not unpacked (a sparse file of its size stands for it, and is
    refused as too large); a zip whose entries add up to more than MAX_ZIP_BYTES, or that holds more entries
    than MAX_ZIP_ENTRIES, is a clear error before anything is written."""
    monkeypatch.setattr(intake, "MAX_NOTEBOOK_BYTES", 2**20)
    zpath = tmp_path / "class.zip"
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"bomb/{CH}/{CH}.ipynb", b"\0" * (8 * 2**20))  # 8 MB of zeros, 8 KB compressed
        zf.writestr(f"ok/{CH}/{CH}.ipynb", b"{}")
    dest = tmp_path / "dest"
    dest.mkdir()
    notes = intake._safe_extract(zpath, dest)
    bomb = dest / "bomb" / CH / f"{CH}.ipynb"
    assert bomb.stat().st_size == 8 * 2**20 and bomb.stat().st_blocks == 0, "nothing of the entry was written"
    assert any("not unpacked" in n and "8 MB" in n for n in notes), notes
    assert "is 8 MB" in intake.refusal(bomb, dest)
    assert (dest / "ok" / CH / f"{CH}.ipynb").read_bytes() == b"{}"

    monkeypatch.setattr(intake, "MAX_NOTEBOOK_BYTES", 64 * 2**20)
    monkeypatch.setattr(intake, "MAX_ZIP_BYTES", 4 * 2**20)
    with pytest.raises(ValueError, match="unpacks to 0.0 GB.*zip bomb"):
        intake._safe_extract(zpath, tmp_path / "dest2")
    assert not (tmp_path / "dest2").exists()
    monkeypatch.setattr(intake, "MAX_ZIP_ENTRIES", 1)
    with pytest.raises(ValueError, match="holds 2 entries"):
        intake._safe_extract(zpath, tmp_path / "dest3")


def test_linked_notebooks_are_refused_before_they_are_read(tmp_path):
    """A link to the solution, a link to another student's notebook and a hard link to a file elsewhere: each
    is an unreadable row that says why, with no answers/ and a feedback page holding nothing of the linked file
    (with ``intake.refusal`` answering None, linus scores full marks and his feedback shows the solution)."""
    from classes import ANSWERS, STUDENT_ANSWERS, answered

    from dlcourse import grading, notebooks

    subs, out, elsewhere = tmp_path / "subs", tmp_path / "out", tmp_path / "elsewhere.ipynb"
    nb = {s: subs / s / CH / f"{CH}.ipynb" for s in ("linus", "lena", "hardy", "alice")}  # <student>/<chapter>/
    for path in nb.values():
        path.parent.mkdir(parents=True)
    write_nb(nb["alice"], answered(student_nb()))
    nb["linus"].symlink_to(notebooks.solution_path(CH, ROOT))
    nb["lena"].symlink_to(nb["alice"])
    write_nb(elsewhere, answered(student_nb()))
    os.link(elsewhere, nb["hardy"])
    results, _ = grading.grade_class(subs, out, chapter=CH, root=ROOT, progress=False)
    rows = {r.student: r for r in results}
    why = {"linus": "symbolic link", "lena": "symbolic link", "hardy": "hard link"}
    solution_only = [ln.strip() for code in ANSWERS.values() for ln in code.splitlines()
                     if len(ln.strip()) > 20 and ln.strip() not in "".join(STUDENT_ANSWERS.values())]
    assert solution_only, "no line of the solution to look for"
    for student, reason in why.items():
        r = rows[student]
        assert (r.status, r.score) == ("unreadable", 0) and reason in r.detail, (student, r.status, r.score, r.detail)
        assert not (out / "answers" / student).exists(), f"{student}'s answers/ holds the linked notebook's code"
        page = (out / "feedback" / student / CH / f"{CH}.html").read_text(encoding="utf-8")
        assert reason in page and not [ln for ln in solution_only if ln in page], student
    assert rows["alice"].status == "graded", "the honest notebook beside them is graded"
