"""Make text that came from a submission safe for the place it is written.

Student ids, file names, exception messages, cell notes and nbgrader metadata are all chosen by
students. Wherever such text is written (terminal, gradebook, Markdown, HTML, CSV), it goes
through one of these functions first:

- `one_line`: one line of printable text: terminal escape sequences, control and bidirectional
  formatting characters removed, line breaks turned into spaces, cut to a length;
- `markdown_code`: an inline code span, inside which Markdown renderers show HTML, headings and
  emphasis as plain text;
- `markdown_text`: plain text with every Markdown-active character escaped (for short texts of
  the course itself, such as question names, that read better outside code spans);
- `html_text`: `one_line` escaped for HTML text and attribute values;
- `csv_cell`: `one_line`, with a leading `'` where a spreadsheet would start a formula.
"""

from __future__ import annotations

import html
import re

# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \), and other two-byte escapes.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?")
_LINE_BREAKS = re.compile(r"[\n\r\t\v\f\x85\u2028\u2029]+")
# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a reader sees.
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Characters that start Markdown inline markup anywhere, and block markers at a line's start.
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_{}\[\]<>&|~#$])")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([-+=>]|\d+[.)])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|")


def one_line(text: object, limit: int = 500) -> str:
    """`text` as one printable line of at most `limit` characters (cut with an ellipsis)."""
    line = _ESCAPE_SEQUENCE.sub("", str(text))
    line = _LINE_BREAKS.sub(" ", line)
    line = " ".join(_INVISIBLE.sub("", line).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def markdown_code(text: object, limit: int = 500) -> str:
    """`text` as a Markdown code span: shown literally by every CommonMark renderer."""
    line = one_line(text, limit)
    if not line:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", line)), default=0)
    fence = "`" * (longest + 1)
    # A span that starts or ends with a backtick needs a space between it and the fence.
    padded = f" {line} " if line.startswith("`") or line.endswith("`") else line
    return f"{fence}{padded}{fence}"


def markdown_text(text: object, limit: int = 500) -> str:
    """`text` as plain Markdown text: every character that could start markup is escaped."""
    escaped = _MARKDOWN_ACTIVE.sub(r"\\\1", one_line(text, limit))
    # "- x", "> x", "1. x" would start a list or a quote: escape the marker (not the digits).
    return _MARKDOWN_LINE_START.sub(lambda m: m[1] + m[2][:-1] + "\\" + m[2][-1], escaped)


def html_text(text: object, limit: int = 500) -> str:
    """`text` as one line escaped for HTML (safe in element text and quoted attributes)."""
    return html.escape(one_line(text, limit), quote=True)


def csv_cell(text: object, limit: int = 500) -> str:
    """`text` as a CSV cell that no spreadsheet runs as a formula."""
    line = one_line(text, limit)
    return "'" + line if line.startswith(_FORMULA_START) else line
