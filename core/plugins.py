"""Installed extensions: packages that declare a `dsforge.plugins` entry point.

Each entry point names a module; importing it runs its `register_metric`,
`register_export_format`, `register_provider` or `register_step` calls. Every
core.registry.Registry loads them on first lookup, so an installed extension
needs no import anywhere in dsforge. (Each kind also has its own group, e.g.
`dsforge.clean_steps`, for entries that are one `module:attr` each.)
"""

from __future__ import annotations

from importlib import import_module, metadata

GROUP = "dsforge.plugins"
_loaded = False


def load_plugins() -> None:
    """Import every `dsforge.plugins` entry point once per process."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for entry in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        import_module(entry.value.split(":", 1)[0])
