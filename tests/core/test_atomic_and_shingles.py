"""The shared helpers every stage leans on: the folder swap and the near-duplicate measure."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.atomic import replace_dir
from core.shingles import minhash, shingles, words


def _write(files: dict[str, str]):
    def write(folder: Path) -> None:
        for name, text in files.items():
            (folder / name).write_text(text, "utf-8")

    return write


def _listing(parent: Path) -> dict[str, str]:
    return {str(p.relative_to(parent)): p.read_text("utf-8") for p in sorted(parent.rglob("*")) if p.is_file()}


def test_replace_dir_swaps_a_folder_in_whole(tmp_path):
    target = tmp_path / "out" / "dataset"
    replace_dir(target, _write({"a.txt": "one"}))
    replace_dir(target, _write({"b.txt": "two"}))
    assert _listing(tmp_path / "out") == {"dataset/b.txt": "two"}


def test_replace_dir_failure_keeps_the_old_folder_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "dataset"
    replace_dir(target, _write({"a.txt": "one"}))

    def half_then_fail(folder: Path) -> None:
        (folder / "partial.txt").write_text("half", "utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_dir(target, half_then_fail)
    assert _listing(tmp_path) == {"dataset/a.txt": "one"}


def test_replace_dir_recovers_what_a_killed_swap_left(tmp_path):
    # Killed after the old folder was moved aside and before the new one was renamed in.
    (tmp_path / ".dataset.old").mkdir()
    (tmp_path / ".dataset.old" / "a.txt").write_text("one", "utf-8")
    (tmp_path / ".dataset.tmp").mkdir()
    (tmp_path / ".dataset.tmp" / "half.txt").write_text("half", "utf-8")

    def fail(folder: Path) -> None:
        raise OSError("again")

    with pytest.raises(OSError):
        replace_dir(tmp_path / "dataset", fail)
    assert _listing(tmp_path) == {"dataset/a.txt": "one"}


def test_one_word_split_ignores_case_and_punctuation():
    assert words("Permission is hereby GRANTED, free-of-charge.") == [
        "permission", "is", "hereby", "granted", "free", "of", "charge",
    ]  # fmt: skip
    assert shingles("a b", 3) == {"a b"}
    assert shingles("", 3) == set()
    assert shingles("a b c d", 3) == {"a b c", "b c d"}


def test_minhash_estimates_jaccard_of_the_shingles():
    a = "the licensee may copy modify and distribute the software for any purpose"
    b = "The licensee may copy, modify and distribute the software for ANY purpose."
    c = "no warranty of any kind is given and the authors are not liable for damages"
    assert minhash(a, 3, 128).jaccard(minhash(b, 3, 128)) == 1.0
    exact = len(shingles(a, 3) & shingles(c, 3)) / len(shingles(a, 3) | shingles(c, 3))
    assert minhash(a, 3, 256).jaccard(minhash(c, 3, 256)) == pytest.approx(exact, abs=0.15)
