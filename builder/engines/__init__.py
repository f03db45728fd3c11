"""Build engines, found by name: `local` (one process) and `ray` (Ray Data, laptop or cluster).

Both run the same stage functions and write the same artifacts; an engine only
decides where the work runs. Entries are lazy `module:attr` rows
(core.registry) so Ray is imported only when its engine is chosen; an installed
package adds an engine through a `dsforge.engines` entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.options.build import ENGINES

if TYPE_CHECKING:
    from builder.pipeline import BuildSummary
    from core.config import DsforgeConfig

__all__ = ["ENGINES", "run_build"]


def run_build(config: DsforgeConfig, show_progress: bool = True) -> BuildSummary:
    """`dsforge build` with the engine named in `build.engine`."""
    return ENGINES.get(config.build.engine)(config, show_progress=show_progress)
