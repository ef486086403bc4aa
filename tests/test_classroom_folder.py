"""The classroom's plain parts, without a hub: the folder `dlcourse classroom` lays out, the nbgrader
configuration each account gets, and how `dlcourse grade` spreads an exercise's score over its test cells
for the gradebook. (The hub itself, end to end, is tests/browser/test_classroom.py: pytest cannot collect
two test modules of one name, hence this file's.)"""

import json
import shutil
import stat
import types

import pytest
from traitlets.config.loader import PyFileConfigLoader

from dlcourse import classroom, notebooks
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
