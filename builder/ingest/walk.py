"""List the files under a root without ever leaving it.

Symlinks are judged by where they resolve and never followed into a folder;
every path handed on lies inside the resolved root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from builder.ingest import globs, reasons
from core.options.ingest import IngestOptions
from schemas.types import FileOutcome


@dataclass(frozen=True)
class Candidate:
    """A regular file to parse: `rel` as matched by globs, `path` inside the root."""

    rel: str
    path: Path


@dataclass
class Listing:
    candidates: list[Candidate] = field(default_factory=list)
    outcomes: list[FileOutcome] = field(default_factory=list)


def display(rel: str) -> str:
    """Undecodable filename bytes become `\\xNN` so reports stay valid UTF-8."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def list_files(root: Path, options: IngestOptions) -> Listing:
    """Walk `root` (already resolved); candidates and outcomes come sorted by relative path."""
    listing = _Walker(root, options).run()
    listing.candidates.sort(key=lambda c: c.rel)
    listing.outcomes.sort(key=lambda o: o.path)
    return listing


class _Walker:
    def __init__(self, root: Path, options: IngestOptions) -> None:
        self.root = root
        self.include = options.include
        self.exclude = options.exclude
        self.hidden_include = [p for p in options.include if globs.names_hidden(p)]
        self.listing = Listing()

    def run(self) -> Listing:
        # An explicit stack, not recursion: folder depth is up to the input.
        pending: list[tuple[Path, str]] = [(self.root, "")]
        while pending:
            folder, prefix = pending.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                self.report(prefix.rstrip("/") or ".", reasons.UNREADABLE, _unreadable(exc, "folder"))
                continue
            for entry in entries:
                rel = prefix + entry.name
                try:
                    self.visit(entry, rel, pending)
                except OSError as exc:
                    self.report(rel, reasons.UNREADABLE, _unreadable(exc, "entry"))
        return self.listing

    def visit(self, entry: os.DirEntry[str], rel: str, pending: list[tuple[Path, str]]) -> None:
        if entry.is_symlink():
            self.visit_symlink(Path(entry.path), rel)
        elif entry.is_dir(follow_symlinks=False):
            if self.descends(rel):
                pending.append((Path(entry.path), rel + "/"))
        elif not self.wants(rel):
            return
        elif entry.is_file(follow_symlinks=False):
            self.listing.candidates.append(Candidate(rel=rel, path=Path(entry.path)))
        else:
            self.report(rel, reasons.SPECIAL_FILE, "is a device, socket or pipe, not a file; exclude it.")

    def visit_symlink(self, link: Path, rel: str) -> None:
        try:
            target = link.resolve()
        except (OSError, RuntimeError):
            if self.wants(rel):
                self.report(rel, reasons.UNREADABLE, "is a symlink loop; fix or remove the link.")
            return
        is_dir = target.is_dir()
        if not (self.descends(rel) if is_dir else self.wants(rel)):
            return
        if not target.is_relative_to(self.root):
            self.report(
                rel,
                reasons.SYMLINK_ESCAPE,
                "is a symlink to a location outside the input folder and was not followed; copy "
                "the target into the folder if it should be ingested.",
            )
        elif is_dir:
            self.report(
                rel,
                reasons.SYMLINKED_DIR,
                "is a symlink to a folder inside the input folder; not followed, so nothing is read twice.",
            )
        elif target.is_file():
            self.listing.candidates.append(Candidate(rel=rel, path=target))
        else:
            self.report(
                rel, reasons.UNREADABLE, "is a broken symlink or points to a non-file; fix or remove it."
            )

    def wants(self, rel: str) -> bool:
        patterns = self.hidden_include if _hidden(rel) else self.include
        return globs.matches(rel, patterns) and not globs.matches(rel, self.exclude)

    def descends(self, rel: str) -> bool:
        if _hidden(rel) and not self.hidden_include:
            return False
        return not globs.prunes_dir(rel, self.exclude)

    def report(self, rel: str, reason: str, message: str) -> None:
        outcome = FileOutcome(
            path=display(rel), status=reasons.status_of(reason), reason=reason, message=message
        )
        self.listing.outcomes.append(outcome)


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def _unreadable(exc: OSError, what: str) -> str:
    detail = exc.strerror or type(exc).__name__
    if isinstance(exc, PermissionError):
        return f"{what} cannot be read ({detail}); grant read permission (chmod) or exclude it."
    return f"{what} cannot be read ({detail}); check the disk or exclude it."
