"""`report --feedback-zip`: one HTML page per student, named by roster id, in one zip; every page
free of live tags, and one page rendered by a real headless Chromium (skipped, saying why, where
none is installed: `make setup` installs it with scripts/install-chromium.sh)."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from datetime import UTC, datetime

import pytest
from test_reports import HOSTILE, Tags, record, store

from autograder.cli import main
from autograder.records.gradebook import Gradebook

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "b", "i",
                "small", "code", "ul", "li", "table", "tr", "td", "th"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def feedback_zip(tiny_course, tmp_path):
    """Three students, one of them with hostile messages and notes; the zip `report` wrote."""
    book = Gradebook(f"sqlite:///{tmp_path / 'gb.sqlite'}")
    on_time = datetime(2026, 10, 10, 12, tzinfo=UTC)
    store(book, "ann", [record("doubling", "test_double", 2.0, 2.0)], submitted_at=on_time)
    store(book, "bob", [record("doubling", f"test_case_{i}", 0.0, message=text, outcome="error")
                        for i, text in enumerate(HOSTILE)], notes=HOSTILE)  # fmt: skip
    store(book, "s1003", [record("doubling", "test_double", 0.0, 2.0, message="wrong")],
          submitted_at=on_time)  # fmt: skip
    out = tmp_path / "out"
    assert main(["--course", str(tiny_course), "report", "tiny", "--db", book.url,
                 "--out", str(out), "--feedback-zip"]) == 0  # fmt: skip
    return out / "tiny-feedback.zip"


def test_one_page_per_student_named_by_roster_id_without_live_tags(feedback_zip):
    with zipfile.ZipFile(feedback_zip) as archive:
        assert archive.namelist() == ["ann.html", "bob.html", "s1003.html"]
        pages = {name: archive.read(name).decode() for name in archive.namelist()}
    assert "Score: 2 / 2" in pages["ann.html"] and "Score: 0 / 2" in pages["s1003.html"]
    for name, page in pages.items():
        parsed = Tags(page)
        assert set(parsed.tags) <= ALLOWED_TAGS, (name, set(parsed.tags) - ALLOWED_TAGS)
        assert not [key for key, _ in parsed.attributes if key.startswith("on") or key in ("src", "href")]
        assert parsed.comments == []
    text = "".join(Tags(pages["bob.html"]).text)
    assert "<script>alert(1)</script>" in text  # shown as text, not run


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (make setup installs it with "
                    "scripts/install-chromium.sh; Debian: apt-get install chromium)")
def test_a_feedback_page_renders_in_a_real_browser(feedback_zip, tmp_path):
    with zipfile.ZipFile(feedback_zip) as archive:
        archive.extractall(tmp_path / "pages")
    page = (tmp_path / "pages" / "bob.html").as_uri()
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400"]
    dom = subprocess.run([*browser, "--dump-dom", page], capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    rendered = Tags(dom)
    assert "h1" in rendered.tags and "table" in rendered.tags
    assert set(rendered.tags) <= ALLOWED_TAGS | {"tbody"}  # the browser adds tbody, nothing else
    assert not [key for key, _ in rendered.attributes if key.startswith("on")]
    assert "<img src=x onerror=alert(1)>" in "".join(rendered.text)
    shot = tmp_path / "bob.png"
    subprocess.run([*browser, f"--screenshot={shot}", page], capture_output=True, timeout=120,
                   check=True)  # fmt: skip
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (1400, 1000)
    ink = (pixels[..., :3].mean(axis=2) < 0.5).mean()
    assert 0.002 < ink < 0.3, f"the page looks blank or broken ({ink:.1%} dark pixels)"
