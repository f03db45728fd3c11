"""Shared fixtures: small real inputs, never mocks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Tests must never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def license_schema():
    from builder.schema_loader import load_schema

    return load_schema("samples/license_schema.py:LicenseTerm", REPO)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


sys.path.insert(0, str(REPO))
