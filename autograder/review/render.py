"""Student text made inert for the review pages.

A written answer is Markdown that a student chose, so it is rendered with raw HTML disabled
(markdown-it's CommonMark with `html: False`: every tag shows as text), and:

- links are not links: their text is shown, the address only as a tooltip (no `href`, so no
  `javascript:` and no request when clicked);
- images are shown only from data the notebook itself carried, checked and encoded again: the
  cell's attachments (`attachment:name`) and `data:` URIs of PNG, JPEG or GIF whose bytes are what
  they claim (an SVG can carry scripts and is refused); any other image (an address on the web,
  which would be a request from the TA's browser) is replaced by a note;
- nothing else can carry an attribute: code and text are escaped by the renderer.

The pages' Content-Security-Policy (`autograder.review.security`) allows scripts only from the
app and images only as `data:`, so a mistake here still runs nothing and requests nothing.
"""

from __future__ import annotations

import base64
import html
import re

from markdown_it import MarkdownIt
from markupsafe import Markup

from autograder.core.written import checked_image

DATA_URI = re.compile(r"^data:(?P<mime>image/[a-z+.-]+);base64,(?P<data>[A-Za-z0-9+/=\s]+)$")


def _image(renderer, tokens, index, options, env) -> str:  # noqa: ANN001 - a render rule
    token = tokens[index]
    source = token.attrGet("src") or ""
    alt = html.escape("".join(child.content for child in token.children or []), quote=True)
    data_uri = None
    if source.startswith("attachment:"):
        found = env.get("images", {}).get(source.removeprefix("attachment:"))
        if found:
            data_uri = _data_uri(*found)
    else:
        match = DATA_URI.match(source)
        image = checked_image(match["mime"], match["data"]) if match else None
        if image is not None:
            data_uri = _data_uri(match["mime"], image)
    if data_uri is None:
        return f'<span class="blocked">[image not shown: {alt or "no description"}]</span>'
    return f'<img class="answer-image" alt="{alt}" src="{data_uri}">'


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _link_open(renderer, tokens, index, options, env) -> str:  # noqa: ANN001
    target = html.escape(tokens[index].attrGet("href") or "", quote=True)
    return f'<span class="link" title="link (not followed): {target}">'


def _link_close(renderer, tokens, index, options, env) -> str:  # noqa: ANN001
    return "</span>"


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MARKDOWN.add_render_rule("image", _image)
_MARKDOWN.add_render_rule("link_open", _link_open)
_MARKDOWN.add_render_rule("link_close", _link_close)


def render_markdown(text: str, images: dict[str, tuple[str, bytes]] | None = None) -> Markup:
    """`text` as inert HTML (see the module docstring); `images`: the cell's checked
    attachments, name -> (mime, bytes)."""
    return Markup(_MARKDOWN.render(text, {"images": images or {}}))
