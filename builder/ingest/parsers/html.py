"""HTML → the readable text of the page, without the chrome around it.

lexbor (via selectolax) parses like a browser, so broken real-world markup
still yields the tree a reader saw; blocks become blank-line separated
paragraphs so downstream chunking sees the page's structure.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from builder.ingest import reasons
from builder.ingest.formats import register_format
from builder.ingest.parsed import ParseContext, ParsedText, ParseResult
from builder.ingest.sniff import decode_nonblank
from core.errors import InputFileError

DROP_TAGS = frozenset(
    {
        "script", "style", "noscript", "iframe", "nav", "header", "footer", "aside", "form",
        "template", "svg", "canvas", "object", "embed", "button", "select", "dialog", "head",
    }
)  # fmt: skip
BLOCK_TAGS = frozenset(
    {
        "address", "article", "blockquote", "body", "caption", "dd", "details", "div", "dl",
        "dt", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "html", "li",
        "main", "ol", "p", "pre", "section", "summary", "table", "tr", "ul",
    }
)  # fmt: skip
# Words in class/id/role that mark cookie banners and menus rather than content.
BOILERPLATE_WORDS = frozenset(
    {
        "cookie", "cookies", "consent", "gdpr", "menu", "menubar", "navbar", "nav",
        "navigation", "breadcrumb", "breadcrumbs", "sidebar", "contentinfo", "complementary",
        "banner", "skiplink",
    }
)  # fmt: skip
# Containers that hold the content itself, never dropped for their class names.
CONTENT_TAGS = frozenset({"html", "body", "main", "article"})

_WORDS = re.compile(r"[a-z0-9]+")
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_BLANK_RUNS = re.compile(r"[ \t]+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")


@register_format("html", suffixes=("html", "htm", "xhtml"), mime="text/html")
def parse_html(data: bytes, ctx: ParseContext) -> ParseResult:
    tree = LexborHTMLParser(decode_nonblank(data, ctx.rel))
    text = "\n\n".join(_blocks(_content_roots(tree)))
    if not text.strip():
        raise InputFileError(
            reasons.NO_TEXT,
            "no visible text left after dropping scripts, styles, navigation and banners; if the "
            "page is rendered by JavaScript, save the rendered page (browser 'Save as') instead.",
        )
    return ParseResult([ParsedText(text=text, title=_title(tree))])


def _title(tree: LexborHTMLParser) -> str:
    for selector in ("title", "h1"):
        node = tree.css_first(selector)
        if node is not None:
            title = _HTML_SPACE.sub(" ", node.text(deep=True)).strip()
            if title:
                return title
    return ""


def _content_roots(tree: LexborHTMLParser) -> list[LexborNode]:
    """`<main>` or the outermost `<article>`s when the page marks its content, else the body."""
    main = tree.css_first("main, [role=main]")
    if main is not None:
        return [main]
    articles = [a for a in tree.css("article") if not _inside(a, "article")]
    if articles:
        return articles
    for fallback in (tree.body, tree.root):
        if fallback is not None:
            return [fallback]
    return []


def _inside(node: LexborNode, tag: str) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag == tag:
            return True
        parent = parent.parent
    return False


def _dropped(node: LexborNode) -> bool:
    tag = node.tag
    if tag in DROP_TAGS:
        # An article's own header carries its headline, unlike the page header.
        return not (tag == "header" and _inside(node, "article"))
    if tag in CONTENT_TAGS:
        return False
    attrs = node.attributes
    if "hidden" in attrs or attrs.get("aria-hidden") == "true":
        return True
    if _HIDDEN_STYLE.search((attrs.get("style") or "").lower()):
        return True
    marks = " ".join(attrs.get(name) or "" for name in ("class", "id", "role")).lower()
    return not BOILERPLATE_WORDS.isdisjoint(_WORDS.findall(marks))


def _blocks(roots: list[LexborNode]) -> list[str]:
    """Walk with an explicit stack: deeply nested pages must not hit the recursion limit."""
    blocks: list[str] = []
    current: list[str] = []
    pre_depth = 0

    def flush() -> None:
        raw = "".join(current)
        current.clear()
        lines = raw.split("\n") if pre_depth else [_BLANK_RUNS.sub(" ", ln) for ln in raw.split("\n")]
        text = "\n".join(ln.rstrip() if pre_depth else ln.strip() for ln in lines).strip("\n")
        if text.strip():
            blocks.append(text)

    stack: list[tuple[str, LexborNode | None]] = [("enter", root) for root in reversed(roots)]
    while stack:
        event, node = stack.pop()
        if event == "leave":
            flush()
            continue
        if event == "leave_pre":
            flush()
            pre_depth -= 1
            continue
        assert node is not None
        tag = node.tag
        if tag == "-text":
            chunk = node.text_content or ""
            current.append(chunk if pre_depth else _HTML_SPACE.sub(" ", chunk))
            continue
        if tag is None or tag.startswith("-") or _dropped(node):
            continue
        if tag == "br":
            current.append("\n")
            continue
        if tag in ("td", "th") and current and not current[-1].endswith(" "):
            current.append(" ")
        if tag in BLOCK_TAGS:
            flush()
            if tag == "pre":
                pre_depth += 1
                stack.append(("leave_pre", None))
            else:
                stack.append(("leave", None))
        stack.extend(("enter", child) for child in reversed(list(node.iter(include_text=True))))
    flush()
    return blocks
