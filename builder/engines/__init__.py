"""Build engines, found by name: `local` (one process) and `ray` (Ray Data, laptop or cluster).

Both run the same stage functions and write the same artifacts; an engine only
decides where the work runs. Entries are import paths so Ray is imported only
when its engine is chosen.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    from core.config import DsforgeConfig
    from builder.pipeline import BuildSummary

ENGINES = {
    "local": "builder.pipeline:build",
    "ray": "builder.engines.ray_engine:build",
}


def run_build(config: DsforgeConfig, show_progress: bool = True) -> BuildSummary:
    """`dsforge build` with the engine named in `build.engine`."""
    name = config.build.engine
    if name not in ENGINES:
        raise ConfigError(f"build.engine {name!r} is unknown; choose one of {sorted(ENGINES)}.")
    module, function = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), function)(config, show_progress=show_progress)
