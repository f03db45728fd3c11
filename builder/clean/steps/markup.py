"""Residual HTML in text that came from txt/md/jsonl (scraped dumps, CMS exports).

Only known tag names are removed, and only once the text shows real markup
(a closing tag, a comment, an entity...), so prose like "a < b" or
"x<y and z>w" stays untouched.
"""

from __future__ import annotations

import html
import re

from builder.clean.registry import TextStep
from core.options.clean import CleanOptions

BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "head",
        "header", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
    }
)  # fmt: skip
INLINE_TAGS = frozenset(
    {
        "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "del", "dfn", "em", "font", "i",
        "img", "ins", "kbd", "label", "link", "mark", "meta", "q", "s", "samp", "small", "span",
        "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
    }
)  # fmt: skip
VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "wbr"})
KNOWN_TAGS = BLOCK_TAGS | INLINE_TAGS

_ATTR = r"""(?:\s+[^\s<>"'=/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)"""
_TAG = re.compile(rf"<(/?)([A-Za-z][A-Za-z0-9]*)({_ATTR}*)\s*(/?)>")
_DROP_WITH_CONTENT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->|<!DOCTYPE[^>]*>|<!\[CDATA\[|\]\]>", re.IGNORECASE | re.DOTALL)
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")


def make_markup(options: CleanOptions) -> TextStep | None:
    return strip_html if options.strip_html else None


def strip_html(text: str) -> str:
    """Repeat until stable: unescaping `&lt;p&gt;` can reveal a tag; each pass shortens the text."""
    while has_markup(text):
        stripped = _strip_once(text)
        if stripped == text:
            break
        text = stripped
    return text


def has_markup(text: str) -> bool:
    if "<" not in text and "&" not in text:
        return False
    if _COMMENT.search(text) or _DROP_WITH_CONTENT.search(text) or _known_entity(text):
        return True
    for match in _TAG.finditer(text):
        closing, name, attrs, self_closing = match.groups()
        name = name.lower()
        if name in KNOWN_TAGS and (closing or self_closing or name in VOID_TAGS or '="' in attrs):
            return True
    return False


def _strip_once(text: str) -> str:
    text = _DROP_WITH_CONTENT.sub("", text)
    text = _COMMENT.sub("", text)
    text = _TAG.sub(_replace_tag, text)
    return _ENTITY.sub(_unescape, text)


def _replace_tag(match: re.Match[str]) -> str:
    name = match.group(2).lower()
    if name in BLOCK_TAGS:
        return "\n"
    return "" if name in INLINE_TAGS else match.group(0)


def _known_entity(text: str) -> bool:
    return any(_unescape(m) != m.group(0) for m in _ENTITY.finditer(text))


def _unescape(match: re.Match[str]) -> str:
    # Decoding entity by entity keeps "&para=1" in URLs intact, unlike html.unescape on the whole text.
    return html.unescape(match.group(0))
