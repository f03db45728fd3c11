"""Rebuild train/data/general_replay.jsonl from two public-domain texts (see train/data/SOURCES.md).

Every answer is a verbatim span of the source: the script only chooses spans and
wraps them in a fixed instruction, so nothing in the set is authored or generated.

    pip download --no-binary :all: --no-deps brotli==1.2.1 && tar xzf brotli-1.2.1.tar.gz
    python scripts/build_replay_set.py brotli-1.2.1/tests/testdata train/data/general_replay.jsonl
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from pathlib import Path

MILTON = "plrabn12.txt"  # John Milton, Paradise Lost (1674), Project Gutenberg etext, Feb 1992
SHAKESPEARE = "asyoulik.txt"  # William Shakespeare, As You Like It (1623)
COUNTS = {"continue_verse": 150, "next_speech": 100, "speaker": 50}
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]


def milton_windows(text: str) -> list[tuple[str, list[str]]]:
    """Non-overlapping 8-line windows of verse, each with its book."""
    body = text[text.index("\nBook I ") :]
    windows: list[tuple[str, list[str]]] = []
    for book, part in zip(ROMAN, re.split(r"\nBook [IVX]+ *\n", body)[1:], strict=True):
        lines = [line.strip() for line in part.splitlines() if line.strip() and line.strip() != "[The End]"]
        windows += [(book, lines[i : i + 8]) for i in range(0, len(lines) - 7, 8)]
    return windows


def shakespeare_speeches(text: str) -> list[tuple[str, str, str]]:
    """(scene, speaker, speech) in order; stage directions dropped, verse lines joined."""
    speeches: list[tuple[str, str, str]] = []
    act = scene = ""
    speaker, lines = None, []

    def flush() -> None:
        if speaker and lines:
            speeches.append((f"Act {act}, Scene {scene}", speaker, " ".join(lines)))

    for raw in text[text.index("\nACT I\n") :].splitlines():
        if m := re.match(r"ACT ([IVX]+)$", raw):
            flush()
            speaker, lines, act = None, [], m.group(1)
        elif m := re.match(r"SCENE ([IVX]+)\t", raw):
            flush()
            speaker, lines, scene = None, [], m.group(1)
        elif m := re.match(r"([A-Z][A-Z ]+[A-Z])\t(.*)$", raw):
            flush()
            speaker, lines = m.group(1), [m.group(2).strip()]
        elif raw.startswith("\t") and speaker and not raw.strip().startswith("["):
            lines.append(raw.strip())
        elif not raw.strip() or raw.strip().startswith("["):
            flush()
            speaker, lines = None, []
    flush()
    return speeches


def record(task: str, source: str, instruction: str, input_: str, output: str) -> dict[str, str]:
    digest = hashlib.sha256(json.dumps([instruction, input_, output]).encode()).hexdigest()[:16]
    return {
        "id": f"replay-{digest}",
        "task": task,
        "source": source,
        "instruction": instruction,
        "input": input_,
        "output": output,
    }


def build(folder: Path) -> list[dict[str, str]]:
    rng = random.Random(0)
    milton = (folder / MILTON).read_text("latin-1").replace("\r\n", "\n")
    play = (folder / SHAKESPEARE).read_text("latin-1").replace("\r\n", "\n")
    records = []
    for book, lines in rng.sample(milton_windows(milton), COUNTS["continue_verse"]):
        records.append(
            record(
                "continue_verse",
                f"Paradise Lost, Book {book}",
                "Continue this passage of John Milton's Paradise Lost with the next four lines.",
                "\n".join(lines[:4]),
                "\n".join(lines[4:]),
            )
        )
    speeches = shakespeare_speeches(play)
    pairs = [
        (a, b)
        for a, b in zip(speeches, speeches[1:])
        if a[0] == b[0] and 8 <= len(a[2].split()) <= 80 and 8 <= len(b[2].split()) <= 80
    ]
    for (scene, who, said), (_, reply_by, reply) in rng.sample(pairs, COUNTS["next_speech"]):
        records.append(
            record(
                "next_speech",
                f"As You Like It, {scene}",
                "Give the next speech in this scene of Shakespeare's As You Like It, starting with "
                "the speaker's name.",
                f"{who.title()}: {said}",
                f"{reply_by.title()}: {reply}",
            )
        )
    used = {r["input"] for r in records}
    candidates = [s for s in speeches if 15 <= len(s[2].split()) <= 80 and s[2] not in used]
    for scene, who, said in rng.sample(candidates, COUNTS["speaker"]):
        records.append(
            record(
                "speaker",
                f"As You Like It, {scene}",
                "Which character of Shakespeare's As You Like It speaks these lines?",
                said,
                who.title(),
            )
        )
    rng.shuffle(records)
    return records


if __name__ == "__main__":
    rows = build(Path(sys.argv[1]))
    Path(sys.argv[2]).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    print(f"{len(rows)} records → {sys.argv[2]}")
