"""Stop-word removal with spaCy's English list, for bag-of-words style corpora."""

from __future__ import annotations

import re
from functools import lru_cache

from builder.clean.registry import TextStep
from core.options.clean import CleanOptions

# A word is letters with inner apostrophes; the spaces after a removed word go with it.
_WORD = re.compile(r"(?<![\w'\u2019])([^\W\d_]+(?:['\u2019][^\W\d_]+)*)(?![\w'\u2019])[ \t]*")


def make_stopwords(options: CleanOptions) -> TextStep | None:
    return remove_stopwords if options.remove_stopwords else None


def remove_stopwords(text: str) -> str:
    stop = stop_words()
    return _WORD.sub(lambda m: "" if m.group(1).lower() in stop else m.group(0), text)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    # Imported on first use: importing spaCy takes seconds that builds without this step skip.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)
