"""The review app's gate and renderer without a browser: password hashes, signed sessions that
refuse tampering, CSRF tokens bound to a session, TA logins in course_config.py checked in one
line, `autograder ta-password`, and student Markdown rendered inert (the browser tests render a
hostile answer too, in test_review_browser.py)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from course_files import course_config

from autograder.cli import main
from autograder.core.config import ConfigError, load_course
from autograder.review.render import render_markdown
from autograder.review.security import Gate, check_password, hash_password

PNG = b"\x89PNG\r\n\x1a\n" + bytes(30)


def test_password_hashes_check_and_refuse():
    stored = hash_password("correct horse", iterations=1000)
    assert stored.startswith("pbkdf2_sha256$1000$")
    assert check_password("correct horse", stored)
    assert not check_password("correct hors", stored)
    assert not check_password("correct horse", "not a hash")


def test_sessions_are_signed_and_bound_to_their_csrf_token():
    gate = Gate("tess")
    session = gate.new_session("tess")
    cookie = gate.cookie(session)
    assert gate.session(cookie) == session
    payload, signature = cookie.rsplit(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**data, "ta": "mallory"}).encode()).decode()
    assert gate.session(f"{forged.rstrip('=')}.{signature}") is None
    assert gate.session(cookie[:-2] + "xx") is None
    assert Gate("tess").session(cookie) is None  # another start's secret
    assert gate.csrf_matches(session, gate.csrf(session))
    assert not gate.csrf_matches(gate.new_session("tess"), gate.csrf(session))
    assert not gate.csrf_matches(session, None)
    assert gate.token_matches(gate.token) and not gate.token_matches(gate.token[:-1] + "x")


def test_logins_replace_the_token_and_a_removed_ta_loses_the_session():
    gate = Gate("tess", {"alice": hash_password("alice-pass", 1000)})
    assert gate.token is None and not gate.token_matches("anything")
    assert gate.login("alice", "wrong") is None and gate.login("nobody", "alice-pass") is None
    session = gate.login("alice", "alice-pass")
    assert session.ta == "alice" and gate.session(gate.cookie(session)) == session
    gate.logins.pop("alice")
    assert gate.session(gate.cookie(session)) is None


def test_ta_logins_in_the_config_are_checked_in_one_line(tiny_course, monkeypatch, capsys):
    config = tiny_course / "course_config.py"
    config.write_text(course_config().replace('"labs": [', '"tas": {"alice": "secret"},\n'
                                                           '    "labs": ['))
    with pytest.raises(ConfigError, match="tas.alice: expected a password hash from "
                                          "`autograder ta-password`"):
        load_course(tiny_course)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["ta-password"]) == 0
    stored = capsys.readouterr().out.strip()
    assert check_password("a-long-password", stored)
    config.write_text(course_config().replace('"labs": [', f'"tas": {{"alice": "{stored}"}},\n'
                                                           '    "labs": ['))
    assert load_course(tiny_course).tas == {"alice": stored}


@pytest.mark.parametrize("text, shown, absent", [
    ("<script>alert(1)</script>", "&lt;script&gt;", "<script"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;", "<img"),
    ("[click](javascript:alert(1))", "[click](javascript:alert(1))", "href"),
    ("[site](http://example.org)", '<span class="link" title="link (not followed): '
                                   'http://example.org">site</span>', "href"),
    ("![remote](http://127.0.0.1:9/x.png)", "[image not shown: remote]", "<img"),
    ("![svg](data:image/svg+xml;base64,PHN2Zz4=)", "![svg]", "<img"),
    ("![fake](data:image/png;base64,aGVsbG8=)", "[image not shown: fake]", "<img"),
    ('```x" onmouseover="y\ncode\n```', 'class="language-x&quot;"', 'onmouseover="y"'),
])
def test_student_markdown_is_inert(text, shown, absent):
    rendered = render_markdown(text)
    assert shown in rendered and absent not in rendered


def test_images_only_from_checked_data_the_notebook_carried():
    inline = base64.b64encode(PNG).decode()
    rendered = render_markdown(f"![a](attachment:plot.png) ![b](attachment:other.png) "
                               f"![c](data:image/png;base64,{inline})",
                               {"plot.png": ("image/png", PNG)})  # fmt: skip
    assert rendered.count("<img ") == 2
    assert rendered.count(f'src="data:image/png;base64,{inline}"') == 2
    assert "[image not shown: b]" in rendered
