"""Hypothesis strategies for cleaning: hostile texts and every combination of cleaning options."""

from __future__ import annotations

from hypothesis import strategies as st

from core.options.clean import CleanOptions, PiiOptions

FRAGMENTS = [
    "<p>", "</p>", "<b>x</b>", "&amp;", "&lt;b&gt;", "&#x41;", "<!-- c -->", "a < b", " ", "\t", "\n",
    "\n\n\n", "\r\n", "\x00", "\x85", "\u00a0", "\u2028", "\ufeff", "\ufb01", "\u0130", "\u1e9e",
    "e\u0301", "\uff21", "Don't", "THE", "the", ".", ",", "!", "\u00ab", "John Smith", "Alice",
    "jo@example.com", "+1 555 123 4567", "10.0.0.1", "[PERSON]", "[email]", "Berlin", "Acme Corp",
]  # fmt: skip

texts = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(FRAGMENTS)), max_size=14).map("".join)
pii_settings = st.sampled_from(
    [
        PiiOptions(enabled=False),
        PiiOptions(enabled=True, entities=["EMAIL", "PHONE", "IP", "URL_CREDENTIALS"]),
        PiiOptions(enabled=True),
    ]
)
option_sets = st.builds(
    CleanOptions,
    unicode_form=st.sampled_from(["NFC", "NFKC", "none"]),
    strip_control_chars=st.booleans(),
    strip_html=st.booleans(),
    normalize_whitespace=st.booleans(),
    unwrap_lines=st.booleans(),
    lowercase=st.booleans(),
    strip_punctuation=st.booleans(),
    remove_stopwords=st.booleans(),
    pii=pii_settings,
)
