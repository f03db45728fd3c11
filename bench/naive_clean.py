"""The baseline cleaner: what a pandas user writes for the same job, kept plain on purpose.

- read: every file under the folder, sorted by path, into a DataFrame (`Path.read_text`);
- clean: drop `<script>`/`<style>` blocks and comments, replace every `<...>` tag
  by a newline (one regex, no list of known tags), `html.unescape`, NFKC via
  `str.normalize`, collapse spaces, at most one blank line, strip; drop empty texts;
- exact duplicates: `drop_duplicates` on the lowercased, whitespace-joined text
  (the key dsforge uses);
- near duplicates: 5-word shingle sets (`\\w+` words, lowercased, as dsforge
  shingles), then each document against every document kept before it, exact
  Jaccard, dropped at >= 0.85 — O(n²) pairs, so it stops at a deadline and says so.

It does not unwrap hard-wrapped lines or strip control characters, and it
removes any tag-like text (dsforge removes only known HTML tags once the text
shows real markup); on this corpus both keep and drop the same kinds of documents.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

THRESHOLD = 0.85
SHINGLE = 5


@dataclass
class NearResult:
    keep: list[bool]
    dropped: int | None  # None when the deadline stopped it
    seconds: float
    finished: bool


def read_folder(root: Path) -> pd.DataFrame:
    paths = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    return pd.DataFrame(
        {
            "source": [p.relative_to(root).as_posix() for p in paths],
            "text": [p.read_text(encoding="utf-8") for p in paths],
        }
    )


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    text = frame["text"]
    text = text.str.replace(r"(?is)<(script|style)\b.*?</\1\s*>", "", regex=True)
    text = text.str.replace(r"(?s)<!--.*?-->|<!DOCTYPE[^>]*>", "", regex=True)
    text = text.str.replace(r"<[^>]+>", "\n", regex=True)
    text = text.map(html.unescape)
    text = text.str.normalize("NFKC")
    text = text.str.replace(r"[^\S\n]+", " ", regex=True)
    text = text.str.replace(r" ?\n ?", "\n", regex=True)
    text = text.str.replace(r"\n{3,}", "\n\n", regex=True).str.strip()
    out = frame.assign(text=text)
    return out[out["text"].str.len() > 0].reset_index(drop=True)


def drop_exact(frame: pd.DataFrame) -> pd.DataFrame:
    key = frame["text"].str.lower().str.split().str.join(" ")
    return frame.loc[~key.duplicated()].reset_index(drop=True)


def near_duplicates(frame: pd.DataFrame, deadline_s: float) -> NearResult:
    """Pairwise Jaccard against every kept document; gives up once `deadline_s` has passed."""
    started = time.perf_counter()
    words = frame["text"].str.lower().str.findall(r"\w+")
    shingles = words.map(
        lambda w: {" ".join(w[i : i + SHINGLE]) for i in range(max(1, len(w) - SHINGLE + 1))} if w else set()
    )
    kept: list[set[str]] = []
    keep: list[bool] = []
    for grams in shingles:
        if time.perf_counter() - started > deadline_s:
            return NearResult(keep=keep, dropped=None, seconds=time.perf_counter() - started, finished=False)
        duplicate = bool(grams) and any(
            len(grams & other) / len(grams | other) >= THRESHOLD for other in kept
        )
        keep.append(not duplicate)
        if not duplicate and grams:
            kept.append(grams)
    return NearResult(
        keep=keep, dropped=keep.count(False), seconds=time.perf_counter() - started, finished=True
    )
