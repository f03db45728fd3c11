"""simple_query_string semantics of the plugin's text matcher (pure Python, no server)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "annotate" / "server" / "plugin"))
from dsforge_sqlsearch import textquery  # noqa: E402

DOC = textquery.Document.from_texts(
    {"clause": "The licensee must keep the copyright notice.", "note": "No warranty of any kind, e-mail us"}
)


def matches(query: str, fields=("clause", "note")) -> bool:
    return textquery.score(textquery.parse(query), DOC, list(fields)) is not None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("copyright notice", True),  # AND of terms, across fields per term
        ("copyright warranty", True),  # each term may come from a different field
        ("copyright missing", False),
        ("copyright | missing", True),
        ("copyright -warranty", False),
        ("-missing", True),  # a pure negation matches everything lacking the term
        ('"copyright notice"', True),
        ('"notice copyright"', False),
        ('"copyright warranty"', False),  # a phrase stays inside one field
        ("lic*", True),
        ("(missing | licensee) +kind", True),
        ("COPYRIGHT", True),
        ("e-mail", True),  # one word analysed into two tokens: both required
        ("copyright~2", True),  # fuzziness accepted, matched exactly
        ("", False),
        ("   |  ", False),
    ],
)
def test_query_semantics(query, expected):
    assert matches(query) is expected


def test_field_restriction():
    assert matches("warranty", fields=("note",)) and not matches("warranty", fields=("clause",))


def test_required_tokens_only_from_the_top_level_conjunction():
    assert textquery.required_tokens(textquery.parse("copyright notice")) == ["copyright", "notice"]
    assert textquery.required_tokens(textquery.parse("copyright | notice")) == []
    assert textquery.required_tokens(textquery.parse("copyright -notice")) == ["copyright"]


def test_more_hits_score_higher():
    many = textquery.Document.from_texts({"f": "copyright copyright copyright notice"})
    one = textquery.Document.from_texts({"f": "copyright and some other words"})
    node = textquery.parse("copyright")
    assert textquery.score(node, many, ["f"]) > textquery.score(node, one, ["f"])
