"""course_config.py is validated on load, and every mistake names its field in one line."""

import pytest
from course_files import course_config

from autograder.core.config import ConfigError, load_course
from autograder.judging.hidden_tests import check_points


def test_valid_config_loads(tiny_course):
    course = load_course(tiny_course)
    lab = course.lab("tiny")
    assert lab.points == 2 and lab.skip_tags == ("demo",)
    assert lab.tolerance("cuda:0", "float32").rtol == 1e-4
    assert course.seed("tiny") == load_course(tiny_course).seed("tiny")
    assert course.seed("tiny") != course.seed("other")


def test_the_real_course_config_is_valid():
    course = load_course()
    assert "lab01_rnn_from_scratch" in course.labs
    for lab in course.labs.values():
        assert lab.notebook.is_file() and lab.due > lab.release


def test_unknown_lab_is_named(tiny_course):
    with pytest.raises(ConfigError, match=r"unknown lab 'lab99' \(labs: tiny\)"):
        load_course(tiny_course).lab("lab99")


def test_due_before_release_names_the_field(tiny_course):
    (tiny_course / "course_config.py").write_text(course_config(due="2026-09-01T12:00"))
    with pytest.raises(ConfigError, match=r"labs\[0\]\.due: 2026-09-01 12:00 is not after the release"):
        load_course(tiny_course)


def test_missing_notebook_names_the_field(tiny_course):
    (tiny_course / "source" / "tiny" / "tiny.ipynb").unlink()
    with pytest.raises(ConfigError, match=r"labs\[0\]\.notebook: .*tiny\.ipynb does not exist"):
        load_course(tiny_course)


def test_wrong_type_names_the_field(tiny_course):
    text = course_config().replace('"points": 2', '"points": "two"')
    (tiny_course / "course_config.py").write_text(text)
    with pytest.raises(ConfigError, match=r"labs\[0\]\.points: expected int or float, got 'two'"):
        load_course(tiny_course)


def test_bad_date_names_the_field(tiny_course):
    (tiny_course / "course_config.py").write_text(course_config(due="next monday"))
    with pytest.raises(ConfigError, match=r"labs\[0\]\.due: 'next monday' is not an ISO date"):
        load_course(tiny_course)


def test_points_that_do_not_match_the_hidden_tests(tiny_course):
    (tiny_course / "course_config.py").write_text(course_config(points=5))
    with pytest.raises(ConfigError, match=r"labs\[0\]\.points: 5, but the hidden tests in tests/tiny add up to 2"):
        check_points(load_course(tiny_course), "tiny")
    (tiny_course / "course_config.py").write_text(course_config(points=2))
    assert check_points(load_course(tiny_course), "tiny") == 2


def test_error_messages_are_one_line(tiny_course):
    (tiny_course / "course_config.py").write_text("COURSE = {")
    with pytest.raises(ConfigError) as error:
        load_course(tiny_course)
    assert "\n" not in str(error.value) and "cannot be loaded" in str(error.value)


def test_no_config_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUTOGRADER_COURSE_ROOT", raising=False)
    with pytest.raises(ConfigError, match="no course_config.py in"):
        load_course()


def test_unknown_setting_is_named(tiny_course):
    text = course_config().replace('"points": 2', '"points": 2, "pionts": 3')
    (tiny_course / "course_config.py").write_text(text)
    with pytest.raises(ConfigError, match=r"labs\[0\]\.pionts: unknown setting"):
        load_course(tiny_course)
