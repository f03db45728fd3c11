"""Glob matching on relative POSIX paths, with `**` spanning folders (fnmatch cannot)."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """`**/` matches zero or more folders, `*` and `?` stay inside one path segment."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            start = i + 1
            negate = pattern.startswith("!", start)
            start += negate
            end = pattern.find("]", start + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
                continue
            body = "".join("\\" + c if c in "\\^[]" else c for c in pattern[start:end])
            out.append("[" + ("^/" if negate else "") + body + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def matches(path: str, patterns: list[str]) -> bool:
    return any(compile_glob(p).fullmatch(path) for p in patterns)


def names_hidden(pattern: str) -> bool:
    """A pattern that spells out a dot-segment asks for hidden files on purpose."""
    return any(part.startswith(".") and part not in {".", ".."} for part in pattern.split("/"))


def prunes_dir(rel_dir: str, patterns: list[str]) -> bool:
    """True when an exclude pattern drops the whole folder, so it is never even listed."""
    for pattern in patterns:
        if compile_glob(pattern).fullmatch(rel_dir):
            return True
        if pattern.endswith("/**") and compile_glob(pattern[:-3]).fullmatch(rel_dir):
            return True
    return False
