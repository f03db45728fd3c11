"""Elasticsearch `simple_query_string` semantics, evaluated in Python.

argilla-server sends text searches as `simple_query_string` with
`default_operator: AND` over one field or all of them. This module parses the
same syntax (`+` and, `|` or, `-` not, `"phrase"`, `prefix*`, parentheses;
`~N` fuzziness/slop is accepted and ignored) and matches it against
documents analysed like the standard analyser does: lower-cased word tokens.
Each bare term may match in any field; a phrase must match inside one field.
It has no dependencies so the query logic can be tested on its own.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"\w+", re.UNICODE)
_LEXEME = re.compile(r'\s*(?:(?P<op>[|+\-()])|"(?P<phrase>[^"]*)"?(?:~\d+)?|(?P<word>[^\s|+()"]+))')


def analyse(text: str) -> list[str]:
    """Lower-cased word tokens, as the standard analyser produces for Latin text."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Term:
    tokens: tuple[str, ...]
    prefix: bool = False
    phrase: bool = False


@dataclass(frozen=True)
class Not:
    node: "Node"


@dataclass(frozen=True)
class And:
    nodes: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple["Node", ...]


Node = Term | Not | And | Or


@dataclass
class Document:
    """One record's searchable fields, lower-cased; tokenised only when a phrase or prefix needs it.

    Single-word terms are counted with a word-bounded regex, which finds exactly
    the `\\w+` tokens equal to the word, without tokenising the whole field.
    """

    fields: dict[str, str]
    _tokens: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, texts: dict[str, str]) -> "Document":
        return cls({name: text.lower() for name, text in texts.items()})

    def tokens(self, name: str) -> list[str]:
        if name not in self._tokens:
            self._tokens[name] = _TOKEN.findall(self.fields[name])
        return self._tokens[name]

    def count(self, name: str, token: str) -> int:
        return len(_word_pattern(token).findall(self.fields[name]))

    def length(self, name: str) -> int:
        # Roughly the token count; only used to damp long fields' scores.
        return max(1, len(self.fields[name]) // 6)


def parse(query: str) -> Node | None:
    """Parse a simple_query_string; None when it holds no searchable token (matches nothing)."""
    lexemes = _lex(query)
    # A query of only negations matches every document lacking the terms, as in ES.
    node, _ = _parse_or(lexemes, 0)
    return node


def required_tokens(node: Node | None) -> list[str]:
    """Tokens every match must contain: safe to pre-filter candidates with a substring test."""
    if isinstance(node, Term):
        return list(node.tokens)
    if isinstance(node, And):
        return [token for child in node.nodes for token in required_tokens(child)]
    return []


def score(node: Node | None, document: Document, field_names: list[str]) -> float | None:
    """A positive relevance score when the document matches, else None.

    Scores grow with term frequency and shrink with field length (a BM25-like
    shape); they are not Elasticsearch's BM25 numbers, only their ordering intent.
    """
    if node is None:
        return None
    return _eval(node, document, field_names)


def _eval(node: Node, doc: Document, names: list[str]) -> float | None:
    if isinstance(node, Term):
        best = None
        for name in names:
            value = _term_score(node, doc, name)
            if value is not None and (best is None or value > best):
                best = value
        return best
    if isinstance(node, Not):
        return None if _eval(node.node, doc, names) is not None else 0.0
    if isinstance(node, And):
        total = 0.0
        for child in node.nodes:
            value = _eval(child, doc, names)
            if value is None:
                return None
            total += value
        return total
    total, matched = 0.0, False
    for child in node.nodes:
        value = _eval(child, doc, names)
        if value is not None:
            matched = True
            total += value
    return total if matched else None


def _term_score(term: Term, doc: Document, name: str) -> float | None:
    if not doc.fields.get(name):
        return None
    length = doc.length(name)
    if term.phrase and len(term.tokens) > 1:
        if any(not doc.count(name, token) for token in term.tokens):
            return None
        tokens, width = doc.tokens(name), len(term.tokens)
        hits = sum(1 for i in range(len(tokens) - width + 1) if tuple(tokens[i : i + width]) == term.tokens)
        return _weight(hits, length) if hits else None
    total = 0.0
    for position, token in enumerate(term.tokens):
        last = position == len(term.tokens) - 1
        if term.prefix and last:
            hits = sum(1 for candidate in doc.tokens(name) if candidate.startswith(token))
        else:
            hits = doc.count(name, token)
        if not hits:
            return None
        total += _weight(hits, length)
    return total


@functools.lru_cache(maxsize=256)
def _word_pattern(token: str) -> "re.Pattern[str]":
    return re.compile(r"(?<!\w)" + re.escape(token) + r"(?!\w)")


def _weight(hits: int, length: int) -> float:
    return (1.0 + math.log(hits)) / math.sqrt(max(length, 1)) + 1.0


# ----- parsing ---------------------------------------------------------------------------


def _lex(query: str) -> list[tuple[str, str]]:
    lexemes: list[tuple[str, str]] = []
    position = 0
    while position < len(query):
        match = _LEXEME.match(query, position)
        if not match or match.end() == position:
            break
        position = match.end()
        if match.group("op"):
            lexemes.append(("op", match.group("op")))
        elif match.group("phrase") is not None:
            lexemes.append(("phrase", match.group("phrase")))
        elif match.group("word"):
            lexemes.append(("word", match.group("word")))
    return lexemes


def _parse_or(lexemes: list[tuple[str, str]], i: int) -> tuple[Node | None, int]:
    branches: list[Node] = []
    node, i = _parse_and(lexemes, i)
    if node is not None:
        branches.append(node)
    while i < len(lexemes) and lexemes[i] == ("op", "|"):
        node, i = _parse_and(lexemes, i + 1)
        if node is not None:
            branches.append(node)
    if not branches:
        return None, i
    return (branches[0] if len(branches) == 1 else Or(tuple(branches))), i


def _parse_and(lexemes: list[tuple[str, str]], i: int) -> tuple[Node | None, int]:
    nodes: list[Node] = []
    while i < len(lexemes) and lexemes[i] not in (("op", "|"), ("op", ")")):
        node, i = _parse_unary(lexemes, i)
        if node is not None:
            nodes.append(node)
    if not nodes:
        return None, i
    return (nodes[0] if len(nodes) == 1 else And(tuple(nodes))), i


def _parse_unary(lexemes: list[tuple[str, str]], i: int) -> tuple[Node | None, int]:
    kind, value = lexemes[i]
    if (kind, value) == ("op", "-"):
        if i + 1 >= len(lexemes):
            return None, i + 1
        node, j = _parse_unary(lexemes, i + 1)
        return (Not(node) if node is not None else None), j
    if (kind, value) == ("op", "+"):
        return (None, i + 1) if i + 1 >= len(lexemes) else _parse_unary(lexemes, i + 1)
    if (kind, value) == ("op", "("):
        node, j = _parse_or(lexemes, i + 1)
        if j < len(lexemes) and lexemes[j] == ("op", ")"):
            j += 1
        return node, j
    if kind == "op":  # a stray ')' is ignored, as ES's lenient parser does
        return None, i + 1
    if kind == "phrase":
        tokens = tuple(analyse(value))
        return (Term(tokens, phrase=True) if tokens else None), i + 1
    word = re.sub(r"~\d*$", "", value)
    prefix = word.endswith("*")
    tokens = tuple(analyse(word.rstrip("*")))
    if not tokens:
        return None, i + 1
    return Term(tokens, prefix=prefix), i + 1

