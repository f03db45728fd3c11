"""Resuming a stopped run: only from checkpoints of the same configuration, never from a half-written one."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from core.atomic import write_text

log = logging.getLogger(__name__)

FINGERPRINT_FILE = "fingerprint.txt"


def reset_stale_checkpoints(folder: Path, fingerprint: str) -> None:
    """Checkpoints of another configuration must not be resumed into this one."""
    marker = folder / FINGERPRINT_FILE
    if folder.exists() and (not marker.is_file() or marker.read_text("utf-8").strip() != fingerprint):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_text(marker, fingerprint + "\n")


def last_checkpoint(folder: Path) -> Path | None:
    """The newest whole checkpoint; newer ones a kill left half-written are deleted.

    transformers writes `trainer_state.json` last, so a checkpoint without it was cut
    short: resuming from it would crash on a truncated file or silently start over.
    """
    if not folder.is_dir():
        return None
    numbered = [p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"checkpoint-\d+", p.name)]
    for checkpoint in sorted(numbered, key=lambda p: int(p.name.split("-")[1]), reverse=True):
        if (checkpoint / "trainer_state.json").is_file():
            return checkpoint
        log.warning("removing %s: a stopped run left it incomplete", checkpoint)
        shutil.rmtree(checkpoint)
    return None


def tokens_at_resume(checkpoint: Path | None) -> int:
    """Tokens the resumed run had already seen, so the card counts only this run's."""
    if checkpoint is None:
        return 0
    from transformers import TrainerState

    try:
        return int(
            TrainerState.load_from_json(str(checkpoint / "trainer_state.json")).num_input_tokens_seen or 0
        )
    except (OSError, ValueError):
        return 0
