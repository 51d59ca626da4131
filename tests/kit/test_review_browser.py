"""`autograder review` in a real headless Chromium (Debian's, driven by Playwright; no browser is
downloaded): the essay fixture lab's notebooks graded through the real sandbox, the app started
as the TA starts it (`python -m autograder.cli review`, reading the token it prints), and every
step of the workflow done with the keyboard and the pages' own forms:

- a request without the token (or with a wrong one, or a form without its CSRF token, or from
  another origin) is refused; the token gives a session;
- a question graded for three students with rubric keys and `n`; an answer group graded once
  for both its students; a rubric item edited and every affected score changed; an autograded
  question overridden with a reason; a comment for one student;
- a hostile answer stays inert: no dialog, no request anywhere but the app, no live markup, and
  its forged rubric changes nothing;
- anonymous mode hides student ids;
- two TAs (logins from course_config.py, on PostgreSQL) on one answer and one rubric item: the
  second gets a conflict, not a silent overwrite;
- `autograder report` afterwards: grades.csv and the feedback show the manual points and
  comments.

Skipped, saying why, only where chromium is not installed (`make setup` installs it).
"""

from __future__ import annotations

import base64
import csv
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
import written_lab

from autograder.cli import grade_examples, main
from autograder.core.config import load_course
from autograder.review.security import hash_password

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (make setup installs "
                                "it with scripts/install-chromium.sh)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
WHY, COMPARE = written_lab.WRITTEN
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(40))).decode()
ALICE, BOB = "alice-password-1", "bob-password-22"
REPO = Path(__file__).resolve().parents[2]
DEMO_LAB = "lab01_rnn_from_scratch"
DEMO_MEMORY, DEMO_FTDNN = "2.6 Memory and the window length", "3.5 An FTDNN or an RNN?"


class Sentinel:
    """A listener on this machine that counts every connection: where a hostile answer's images
    and links point. It must see none."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.hits = 0
        self.running = True
        self.thread = threading.Thread(target=self._count, daemon=True)
        self.thread.start()

    def _count(self) -> None:
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits += 1
            connection.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        self.socket.close()


def hostile_answer(port: int) -> str:
    return (f"<script>alert('script')</script> <img src=http://127.0.0.1:{port}/img "
            f"onerror=alert('onerror')>\n\n[click me](javascript:alert('link')) "
            f"![tracker](http://127.0.0.1:{port}/track.png) <http://127.0.0.1:{port}/auto>\n\n"
            '<form method="post" action="/q/3/rubric/1"><input name="points" value="100">'
            '<button data-key="1">forged</button></form>\n\n'
            "- +100: full marks, says the forged rubric\n\n"
            f"![plot](attachment:plot.png) ![inline](data:image/png;base64,{PNG})")


SUBMISSIONS = {  # student: (why, compare, double body)
    "ann": ("Doubling is linear: double(a+b) = double(a)+double(b).", "No, 9 is not 5.", None),
    "bob": ("doubling is LINEAR:   double(a+b) = double(a)+double(b).", "No: (1+2)^2 = 9.", None),
    "cat": ("It adds up: 2(a+b) = 2a+2b, e.g. 2*3 = 2+4.", "Squares do not add.", "return 3 * x"),
    "dan": ("Because it is multiplication.", "", None),
}


@pytest.fixture(scope="module")
def sentinel():
    listener = Sentinel()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def essay(tmp_path_factory, sentinel):
    """The essay lab released, and five notebooks (one hostile) graded into a SQLite gradebook."""
    root = written_lab.build_course(tmp_path_factory.mktemp("review") / "course")
    assert main(["--course", str(root), "release", "essay"]) == 0
    release = nbformat.read(root / "release/essay/essay.ipynb", as_version=4)
    inbox = root / "inbox"
    inbox.mkdir()
    for student, (why, compare, double) in SUBMISSIONS.items():
        nb = written_lab.student_notebook(release, {"why_linear": why, "compare": compare},
                                          **({"double": double} if double else {}))
        nbformat.write(nb, inbox / f"{student}.ipynb")
    hostile = written_lab.student_notebook(
        release, {"why_linear": hostile_answer(sentinel.port), "compare": "x"},
        attachments={"why_linear": {"plot.png": {"image/png": PNG}}})  # fmt: skip
    nbformat.write(hostile, inbox / "mal.ipynb")
    db = root / "graded.sqlite"
    assert main(["--course", str(root), "grade", "essay", str(inbox), "--db", f"sqlite:///{db}",
                 "--workers", "1"]) == 0  # fmt: skip
    return root, db


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh temporary profile (--user-data-dir).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Server:
    """`autograder review` as a TA runs it, in its own process."""

    def __init__(self, root: Path, db: str, *extra: str, lab: str = "essay"):
        command = [sys.executable, "-m", "autograder.cli", "--course", str(root), "review",
                   lab, "--db", db, "--port", "0", "--ta", "tess", *extra]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith("open "):
                self.url = line.split()[1]
                self.base = self.url.split("?")[0].rstrip("/")
                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                return
        self.stop()
        raise AssertionError("the review app did not start: " + "".join(self.lines))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(20)


@pytest.fixture
def app(essay, tmp_path):
    """The review app over a fresh copy of the graded gradebook, with its token."""
    root, db = essay
    copy = tmp_path / "gradebook.sqlite"
    shutil.copy(db, copy)
    server = Server(root, f"sqlite:///{copy}")
    yield server, copy
    server.stop()


def _watched(context, server):
    """A page whose dialogs and requests are recorded (requests outside the app are refused)."""
    page = context.new_page()
    dialogs, requests = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    return page, dialogs, requests


def _press(page, key):
    with page.expect_navigation():
        page.keyboard.press(key)


def _open(page, link) -> None:
    with page.expect_navigation():
        link.click()


def _score(page) -> str:
    if not page.locator("#score b").count():
        raise AssertionError(f"no score on {page.url}: {page.inner_text('body')[:500]}")
    return page.inner_text("#score b")


def _report(root, db, tmp_path, lab="essay"):
    out = tmp_path / "report"
    assert main(["--course", str(root), "report", lab, "--db", f"sqlite:///{db}",
                 "--out", str(out)]) == 0  # fmt: skip
    return {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}, out


def test_requests_without_the_token_are_refused(app, browser):
    server, _ = app
    context = browser.new_context()
    page = context.new_page()
    for url in (server.base + "/", server.base + "/q/3", server.base + "/static/review.js",
                server.base + "/?token=wrong"):
        response = page.goto(url)
        assert response.status == 403, url
        assert "refused" in page.inner_text("h1")
    refused = page.request.post(server.base + "/q/3/rubric", form={"points": "1", "text": "x"})
    assert refused.status == 403
    response = page.goto(server.url)  # the token: a session, and the token leaves the address
    assert response.status == 200 and "token" not in page.url and page.inner_text("#ta") == "tess"
    cookie = next(c for c in context.cookies() if c["name"] == "review_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.goto(server.base + "/q/3")
    csrf = page.input_value("#add-item input[name=csrf]")
    forged = page.request.post(server.base + "/q/3/rubric", form={"points": "5", "text": "x"})
    assert forged.status == 403  # the session cookie alone is not enough
    other_site = page.request.post(server.base + "/q/3/rubric", headers={
        "Origin": "http://evil.example"}, form={"csrf": csrf, "points": "5", "text": "x"})
    assert other_site.status == 403
    page.goto(server.base + "/q/3")
    assert page.locator("tr.rubric-item").count() == 3  # nothing was added
    context.close()


def test_a_ta_grades_by_keyboard_groups_rubric_edits_overrides_and_exports(app, browser, essay,
                                                                             tmp_path):  # fmt: skip
    server, db = app
    context = browser.new_context()
    page, dialogs, requests = _watched(context, server)
    page.goto(server.url)
    rows = page.locator("#questions tr")
    assert rows.count() == 5 and "0 of 5 graded" in rows.nth(3).inner_text()

    # 2.2, three students by keyboard: 1 applies the rubric's first item, n the next answer.
    page.goto(server.base + "/q/4")
    assert page.locator("#groups tr.group").count() == 5  # dan's blank answer is its own group
    _open(page, page.locator("#next-ungraded"))
    graded = []
    for _ in range(3):
        graded.append(page.inner_text("#members"))
        _press(page, "1")
        assert _score(page) == "1 / 1"
        assert page.locator("button[data-key='1']").get_attribute("aria-pressed") == "true"
        _press(page, "n")
    assert len(set(graded)) == 3
    assert "3 of 5 graded" in page.inner_text("#progress")

    # 2.1: ann's and bob's answers (case and spaces apart) are one group, graded once.
    page.goto(server.base + "/q/3")
    first_group = page.locator("#groups tr.group").first
    assert first_group.locator("td").nth(1).inner_text() == "2"
    _open(page, first_group.locator("a"))
    assert "ann" in page.inner_text("#members") and "bob" in page.inner_text("#members")
    _press(page, "1")
    _press(page, "2")
    assert _score(page) == "2 / 2"
    assert "2 of 5 graded" in page.inner_text("#progress")
    # cat alone: item 1, and a comment for cat only.
    page.goto(server.base + "/q/3")
    _open(page, page.locator("#groups tr.group", has_text="It adds up").locator("a"))
    _press(page, "1")
    page.fill("#adjust input[name=comment]", "Say which property the example shows.")
    page.fill("#adjust input[name=adjustment]", "0.5")
    with page.expect_navigation():
        page.click("#adjust button")
    assert _score(page) == "1.5 / 2"

    # Editing item 1's points re-scores the three answers that have it.
    page.goto(server.base + "/q/3")
    item = page.locator("tr.rubric-item").first
    assert item.locator("td.uses").inner_text() == "3"
    item.locator("input[name=points]").fill("0.5")
    with page.expect_navigation():
        item.locator("button[value=save]").click()
    assert page.inner_text("#rescored") == "Rubric item changed: 3 answers re-scored."
    scores = {row.locator("td.preview").inner_text()[:12]: row.locator("td").nth(3).inner_text()
              for row in page.locator("#groups tr.group").all()}
    assert scores["Doubling is "] == "1.5 / 2"  # the group: 0.5 + 1
    page.goto(server.base + "/q/3")
    _open(page, page.locator("#groups tr.group", has_text="It adds up").locator("a"))
    assert _score(page) == "1 / 2"  # 0.5 + 0.5 adjustment

    # 1.1 is graded by tests: cat's 0 overridden with a reason.
    page.goto(server.base + "/q/1")
    _open(page, page.locator("#groups tr.group", has_text="return 3 * x").locator("a"))
    assert "failed" in page.inner_text(".tests")
    page.keyboard.press("o")
    page.keyboard.type("1")
    page.fill("#override input[name=reason]", "Right idea; the factor was a typo.")
    with page.expect_navigation():
        page.click("#override button")
    assert _score(page) == "1 / 2 (override; the tests gave 0)"

    assert dialogs == [] and all(url.startswith(server.base) for url in requests)
    context.close()

    rows, out = _report(essay[0], db, tmp_path)
    assert rows["ann"][WHY] == "1.5" and rows["bob"][WHY] == "1.5" and rows["cat"][WHY] == "1"
    assert rows["dan"][WHY] == "pending" and rows["dan"]["final"] == ""
    assert rows["cat"]["1.1 Doubling"] == "1"
    graded_compare = [s for s in ("ann", "bob", "cat", "dan", "mal") if rows[s][COMPARE] == "1"]
    assert len(graded_compare) == 3
    feedback = (out / "feedback/cat.md").read_text()
    assert "Comment: Say which property the example shows." in feedback
    assert "Reason: Right idea; the factor was a typo." in feedback
    assert "Points set by course staff (tess, " in feedback and "Adjustment: +0.5" in feedback
    assert "- \\+0.5: states additivity or homogeneity" in feedback
    html = (out / "feedback/cat.html").read_text()
    assert "Say which property the example shows." in html and "Reason: Right idea" in html


def test_a_hostile_answer_stays_inert(app, browser, sentinel):
    server, _ = app
    context = browser.new_context()
    page, dialogs, requests = _watched(context, server)
    page.goto(server.url)
    page.goto(server.base + "/q/3")
    _open(page, page.locator("#groups tr.group", has_text="alert").locator("a"))
    answer = page.locator("#answer")
    assert "<script>alert('script')</script>" in answer.inner_text()
    assert "full marks, says the forged rubric" in answer.inner_text()
    live = page.evaluate("""() => {
        const box = document.querySelector('#answer');
        const found = [];
        for (const element of box.querySelectorAll('*')) {
            if (['SCRIPT', 'FORM', 'BUTTON', 'INPUT', 'A', 'IFRAME', 'OBJECT', 'EMBED', 'STYLE']
                    .includes(element.tagName)) found.push(element.tagName);
            for (const attribute of element.attributes)
                if (attribute.name.startsWith('on') || attribute.name === 'href'
                        || attribute.name.startsWith('data-')) found.push(attribute.name);
        }
        const images = [...box.querySelectorAll('img')].map((image) => image.src);
        return {found, images};
    }""")
    assert live["found"] == []
    assert len(live["images"]) == 2 and all(src.startswith("data:image/png;base64,")
                                            for src in live["images"])
    assert page.locator("#answer .blocked").inner_text() == "[image not shown: tracker]"
    # Its forged rubric (a form, a data-key, a "+100" line) changes nothing: key 1 applies the
    # real item 1.
    _press(page, "1")
    assert _score(page) == "1 / 2"
    page.goto(server.base + "/q/3")
    assert page.locator("tr.rubric-item input[name=points]").first.input_value() == "1"
    page.wait_for_timeout(500)
    assert dialogs == []
    assert all(url.startswith(server.base) for url in requests), requests
    assert sentinel.hits == 0
    context.close()


def test_anonymous_mode_hides_student_ids(essay, browser, tmp_path):
    root, db = essay
    copy = tmp_path / "gradebook.sqlite"
    shutil.copy(db, copy)
    server = Server(root, f"sqlite:///{copy}", "--anonymous")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(server.url)
        assert page.locator(".badge").inner_text() == "anonymous"
        page.goto(server.base + "/q/3/next")
        shown = page.inner_text("main")
        assert not any(student in shown.split() for student in ("ann", "bob", "cat", "dan", "mal"))
        page.goto(server.base + "/q/3")
        _open(page, page.locator("#groups tr.group").first.locator("a"))
        assert page.locator("a.member").count() == 0  # group members stay hidden
        _press(page, "1")
        assert _score(page) == "1 / 2"
        context.close()
    finally:
        server.stop()


def test_two_tas_on_postgresql_get_conflicts_not_lost_updates(essay, browser, tmp_path,
                                                               postgresql_server):  # fmt: skip
    root, _ = essay
    course = tmp_path / "course"
    shutil.copytree(root, course, symlinks=True, ignore=shutil.ignore_patterns("*.sqlite*"))
    config = course / "course_config.py"
    config.write_text(config.read_text().replace(
        '"labs": [', f'"tas": {{"alice": "{hash_password(ALICE, 1000)}", '
                     f'"bob": "{hash_password(BOB, 1000)}"}},\n    "labs": ['))
    assert set(load_course(course).tas) == {"alice", "bob"}
    db = postgresql_server.new_database()
    assert main(["--course", str(course), "grade", "essay", str(course / "inbox"), "--db", db,
                 "--workers", "1"]) == 0  # fmt: skip
    server = Server(course, db)
    try:
        assert server.lines[-1].startswith("open ") and "token" not in server.lines[-1]
        pages = {}
        for name, password in (("alice", ALICE), ("bob", BOB)):
            context = browser.new_context()
            page = context.new_page()
            page.goto(server.base + "/")
            assert page.url.endswith("/login")
            page.fill("input[name=name]", name)
            page.fill("input[name=password]", password if name == "alice" else "wrong-one")
            with page.expect_navigation():
                page.click("form button")
            if name == "bob":
                assert "Wrong name or password" in page.inner_text("body")
                page.fill("input[name=name]", name)
                page.fill("input[name=password]", password)
                with page.expect_navigation():
                    page.click("form button")
            assert page.inner_text("#ta") == name
            pages[name] = page
        alice, bob = pages["alice"], pages["bob"]
        for page in (alice, bob):  # both open the same answer
            page.goto(server.base + "/q/3/next")
        assert alice.url == bob.url
        _press(alice, "1")
        assert _score(alice) == "1 / 2"
        with bob.expect_navigation():
            bob.keyboard.press("2")
        assert "alice changed this grade" in bob.inner_text("#conflict") or \
            "another TA changed the grades" in bob.inner_text("#conflict")
        bob.goto(alice.url)
        assert _score(bob) == "1 / 2"  # alice's grade, untouched

        for page in (alice, bob):  # both open the rubric, then edit item 2
            page.goto(server.base + "/q/3")
        for page, points in ((alice, "0.25"), (bob, "0.75")):
            item = page.locator("tr.rubric-item").nth(1)
            item.locator("input[name=points]").fill(points)
            with page.expect_navigation():
                item.locator("button[value=save]").click()
        assert "alice changed this rubric item" in bob.inner_text("#conflict")
        bob.goto(server.base + "/q/3")
        assert bob.locator("tr.rubric-item input[name=points]").nth(1).input_value() == "0.25"
    finally:
        server.stop()


@pytest.mark.slow
def test_the_demo_written_answers_are_graded_in_the_browser_and_exported(browser, tmp_path):
    """The issue's done-when: the example submissions of Lab 1 graded as `autograder demo`
    grades them (written answers kept), then a TA grades question 2.6 with its rubric in the
    review app of the course itself, and `autograder report` exports the manual points."""
    db = tmp_path / "demo-gradebook.sqlite"
    lines = grade_examples(load_course(REPO), DEMO_LAB, f"sqlite:///{db}")
    assert "graded 4" in lines[0], lines  # the cut-off notebook too: it earns nothing
    server = Server(REPO, f"sqlite:///{db}", lab=DEMO_LAB)
    try:
        context = browser.new_context()
        page, dialogs, requests = _watched(context, server)
        page.goto(server.url)
        row = page.locator("#questions tr", has_text=DEMO_MEMORY)
        assert "written" in row.inner_text() and "0 of 4 graded" in row.inner_text()
        _open(page, row.locator("a"))
        # the rubric seeded from the source's mark scheme; the hostile answer's forged one is text
        assert page.locator("tr.rubric-item").count() == 3
        assert "geometrically" in page.locator("tr.rubric-item").first.inner_html()
        assert page.locator("#groups tr.group").count() == 4  # the cut-off notebook: blank
        _open(page, page.locator("#groups tr.group", has_text="A longer window").locator("a"))
        assert "partial_student" in page.inner_text("#members")
        _press(page, "1")
        assert _score(page) == "1 / 2"
        page.goto(page.url.split("/g/")[0])
        _open(page, page.locator("#groups tr.group", has_text="To count the ones").locator("a"))
        assert "perfect_student" in page.inner_text("#members")
        _press(page, "1")
        _press(page, "2")
        assert _score(page) == "2 / 2"
        assert "2 of 4 graded" in page.inner_text("#progress")
        assert dialogs == [] and all(url.startswith(server.base) for url in requests)
        context.close()
    finally:
        server.stop()
    rows, out = _report(REPO, db, tmp_path, DEMO_LAB)
    assert rows["perfect_student"][DEMO_MEMORY] == "2" and rows["partial_student"][DEMO_MEMORY] == "1"
    assert rows["hostile_student"][DEMO_MEMORY] == "pending"
    assert all(rows[student][DEMO_FTDNN] == "pending" and rows[student]["final"] == ""
               for student in ("perfect_student", "partial_student"))  # fmt: skip
    feedback = (out / "feedback/partial_student.md").read_text()
    assert "+1: the gradient from an input w steps back" in feedback.replace("\\", "")
