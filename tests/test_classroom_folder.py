"""The classroom's plain parts, without a hub: the folder `dlcourse classroom` lays out, the nbgrader
configuration each account gets, and how `dlcourse grade` spreads an exercise's score over its test cells
for the gradebook. (The hub itself, end to end, is tests/browser/test_classroom.py: pytest cannot collect
two test modules of one name, hence this file's.)"""

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import types

import pytest
from traitlets.config.loader import PyFileConfigLoader

from dlcourse import classroom, notebooks
from dlcourse.sandbox import GIVEN_DIR
from dlcourse.grading import gradebook


def _load(path):
    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


@pytest.fixture
def room(tmp_path, monkeypatch):
    monkeypatch.setattr(classroom, "proxy_command", lambda: "/usr/bin/configurable-http-proxy")
    monkeypatch.delenv("DLCOURSE_ROOT", raising=False)
    return classroom.setup(tmp_path / "room", port=18123, students=["ann", "ben"])


def test_setup_lays_out_homes_exchange_and_the_instructors_course(room):
    assert stat.S_IMODE(room.exchange.stat().st_mode) == 0o777, "students must be able to write the exchange"
    for part in classroom.COURSE_PARTS:
        assert (room.course / part).is_dir()
    assert notebooks.is_course(room.course)
    assert json.loads((room.home("ann").parent.parent / "classroom.json").read_text())["students"] == ["ann", "ben"]


def test_instructor_config_roots_nbgrader_at_their_course(room):
    config = _load(room.home(room.instructor) / ".jupyter" / "nbgrader_config.py")
    assert config.CourseDirectory.root == str(room.course)
    assert config.CourseDirectory.source_directory == "solutions"  # the course's own settings are loaded
    assert config.Exchange.root == str(room.exchange)


def test_student_config_names_exchange_course_and_their_id(room):
    jupyter = room.home("ben") / ".jupyter"
    config = _load(jupyter / "nbgrader_config.py")
    assert (config.Exchange.root, config.CourseDirectory.course_id, config.CourseDirectory.student_id) == (
        str(room.exchange), classroom.COURSE_ID, "ben")
    disabled = json.loads((jupyter / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert disabled.get("@jupyter/nbgrader:formgrader") and disabled.get("@jupyter/nbgrader:create-assignment")
    assert not (room.home("ben") / classroom.COURSE_ID).exists(), "a student gets no copy of the course"


def test_a_copied_course_config_does_not_root_nbgrader_at_its_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DLCOURSE_ROOT", raising=False)
    shutil.copy(notebooks.course_root() / "autograde" / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    assert "root" not in _load(tmp_path / "nbgrader_config.py").CourseDirectory
    monkeypatch.setenv("DLCOURSE_ROOT", str(tmp_path))
    assert _load(tmp_path / "nbgrader_config.py").CourseDirectory.root == str(tmp_path)


CELLS = [("test_rel_error_visible", 2.0), ("test_rel_error_hidden", 1.0),
         ("test_numerical_gradient_visible", 2.0), ("test_numerical_gradient_hidden", 1.0)]


def test_cell_scores_fill_each_exercises_cells_in_order():
    result = types.SimpleNamespace(exercises={"rel_error": (2.0, 3.0), "numerical_gradient": (3.0, 3.0)})
    assert gradebook.cell_scores(result, CELLS) == {
        "test_rel_error_visible": 2.0, "test_rel_error_hidden": 0.0,
        "test_numerical_gradient_visible": 2.0, "test_numerical_gradient_hidden": 1.0}


def test_cell_scores_use_the_graders_per_cell_scores_when_given():
    result = types.SimpleNamespace(exercises={"rel_error": (1.0, 3.0)},
                                   grades={"test_rel_error_visible": (0.0, 2.0), "test_rel_error_hidden": (1.0, 1.0)})
    assert gradebook.cell_scores(result, CELLS[:2]) == {"test_rel_error_visible": 0.0, "test_rel_error_hidden": 1.0}


def test_collected_course_is_only_a_courses_submitted_folder(room, tmp_path):
    (room.course / "submitted").mkdir()
    assert gradebook.collected_course(room.course / "submitted") == room.course.resolve()
    (tmp_path / "x" / "submitted").mkdir(parents=True)
    assert gradebook.collected_course(tmp_path / "x" / "submitted") is None
    assert gradebook.collected_course(room.course) is None


# ---------------------------------------------------------------------------- dlcourse.given in a student's server

CH01, CH04 = "ch01_gradient_descent", "ch04_attention"  # the chapters whose solutions later chapters import


def release(room, chapter):
    """What ``nbgrader release_assignment`` leaves in the exchange (as the hub's user, as the instructor's server)."""
    (room.exchange / classroom.COURSE_ID / "outbound" / chapter).mkdir(parents=True, exist_ok=True)


def test_a_chapters_given_module_is_shown_to_students_only_once_a_later_chapter_is_released(room):
    assert (GIVEN_DIR / f"{CH01}.py").is_file() and (GIVEN_DIR / f"{CH04}.py").is_file(), "the test needs both modules"
    assert classroom.sync_given(room) == [] and sorted(p.name for p in room.given.iterdir()) == ["__init__.py"]
    release(room, CH01)
    assert classroom.sync_given(room) == [], "ch01 is open: its solutions must not be shown"
    release(room, "ch02_convolution")  # ch02 imports ch01's softmax
    assert classroom.sync_given(room) == [CH01]
    assert (room.given / f"{CH01}.py").read_bytes() == (GIVEN_DIR / f"{CH01}.py").read_bytes()
    release(room, "ch05_gpt")  # ch05 imports ch04's attention
    assert classroom.sync_given(room) == [CH01, CH04]
    (room.exchange / classroom.COURSE_ID / "outbound" / "ch05_gpt").rmdir()  # released by mistake, taken back
    assert classroom.sync_given(room) == [CH01] and not (room.given / f"{CH04}.py").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to make folders that a student's uid owns")
def test_a_release_folder_that_a_student_made_or_linked_counts_for_nothing(room, tmp_path):
    """The exchange's root is writable by every student: a folder of theirs there, or a link, must not open the
    later chapters' solutions."""
    student = room.uid("ann")
    outbound = room.exchange / classroom.COURSE_ID / "outbound"
    outbound.mkdir(parents=True)
    (outbound / "ch06_scale").mkdir()
    os.chown(outbound / "ch06_scale", student, student)  # she could not make it there; this is the worst case
    (tmp_path / "ch05_gpt").mkdir()
    (outbound / "ch05_gpt").symlink_to(tmp_path / "ch05_gpt")
    assert classroom.released_chapters(room) == [] and classroom.sync_given(room) == []
    release(room, "ch02_convolution")
    assert classroom.sync_given(room) == [CH01]
    os.chown(outbound.parent, student, student)  # she made the course's folder before the instructor's first release
    assert classroom.released_chapters(room) == [] and classroom.sync_given(room) == []


LISTER = """
import os, sys, time
home = os.environ["HOME"]
def seen():
    import dlcourse.given
    return sorted(n for n in os.listdir(os.path.dirname(dlcourse.given.__file__)) if n.endswith(".py"))
print("BEFORE", seen(), flush=True)
open(os.path.join(home, "listed"), "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(home, "go")) and time.monotonic() < deadline:
    time.sleep(0.1)
print("AFTER", seen())
from dlcourse.given.ch04_attention import layer_norm
print("IMPORTED", layer_norm.__name__)
"""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"), reason="the jail needs root and bwrap")
def test_a_jailed_students_server_sees_the_released_given_modules_live(room):
    """In the jail a student's server runs in (``server_jail``), ``dlcourse/given/`` holds only closed chapters'
    modules, and one released while the server runs appears there without a restart."""
    assert room.isolated
    release(room, CH04)
    home = room.home("ann")
    proc = subprocess.Popen([*classroom.server_jail(room, "ann"), sys.executable, "-c", LISTER],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (home / "listed").exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        release(room, "ch05_gpt")
        assert classroom.sync_given(room) == [CH01, CH04]
        (home / "go").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    lines = {line.split(" ", 1)[0]: line for line in out.splitlines()}
    assert lines.get("BEFORE") == "BEFORE ['__init__.py', 'ch01_gradient_descent.py']", (out, err)
    assert lines.get("AFTER") == "AFTER ['__init__.py', 'ch01_gradient_descent.py', 'ch04_attention.py']", (out, err)
    assert lines.get("IMPORTED") == "IMPORTED layer_norm", (out, err)
