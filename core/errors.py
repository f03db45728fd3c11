"""One exception hierarchy; every message says what to do next."""

from __future__ import annotations


class DsforgeError(Exception):
    """Base of every error dsforge raises on purpose; its message is user-facing."""


class ConfigError(DsforgeError):
    """The project configuration is missing, malformed or inconsistent."""


class SchemaError(DsforgeError):
    """A domain schema cannot drive extraction (missing evidence field, bad template...)."""


class DraftSchemaError(SchemaError):
    """The schema file is a draft `dsforge init --draft` wrote, not yet read and edited by its owner."""


class BuildLockedError(DsforgeError):
    """Another process is writing the same output folder."""


class PathEscapeError(DsforgeError):
    """A path taken from input would leave the folder it must stay in."""


class ModelNotInstalledError(DsforgeError):
    """The packages that carry a catalogued model's weights are not installed."""


class ModelIntegrityError(DsforgeError):
    """Model weights do not match their recorded sha256."""


class InputFileError(DsforgeError):
    """One input file (or jsonl line) cannot become documents; the build goes on without it.

    `reason` is the machine-readable code that ends up in its FileOutcome.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SplitError(DsforgeError):
    """Records cannot be split (too few documents, inconsistent split files, leakage left)."""


class ExportError(DsforgeError):
    """Splits cannot be exported or published."""


class TrainError(DsforgeError):
    """Training or evaluation cannot start or go on (missing dataset, unsafe settings...)."""


class ReviewServerError(DsforgeError):
    """The review server cannot be built, started, reached or stopped."""


class ReviewError(DsforgeError):
    """Pushing records to review or pulling reviews back failed."""


class KnowledgeGraphError(DsforgeError):
    """A triple file or a schema's triple shape that cannot make a graph."""


class GoldError(DsforgeError):
    """A gold (labelled) file cannot be scored against a build; the message names file and line."""
