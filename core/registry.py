"""One helper for every table found by name: steps, formats, providers, metrics, engines, methods.

Modelled on langextract's router: built-ins are `"module:attr"` strings, and a
target's module is imported only when its name is looked up, so an optional
dependency (Ray, llama.cpp, a PDF parser) costs nothing until it is used.
Installed packages add entries through the kind's entry-point group
(`name = "module:attr"`) or through a `dsforge.plugins` module that calls the
kind's register function (core/plugins.py); both are read on first lookup.

A target's module may register its own name while it is imported (the
decorator form, which also attaches metadata such as a label or suffixes);
that registration is then the entry, not the bare attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module, metadata
from typing import Any, Generic, TypeVar

from core.errors import ConfigError
from core.plugins import load_plugins

T = TypeVar("T")


class UnknownNameError(ConfigError, ValueError):
    """A name no entry has. A ValueError too, so Pydantic validators report it as a config error."""


def load_target(target: str) -> Any:
    """The object a `"module:attr"` string names (`attr` may be dotted; no attr: the module)."""
    module, _, attr = target.partition(":")
    obj: Any = import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


class _Lazy:
    """A target not imported yet."""

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        self.target = target


class Registry(Generic[T]):
    """Name → entry, in registration order (the order reports list them and steps run in)."""

    def __init__(self, kind: str, group: str, builtins: Mapping[str, str] | None = None) -> None:
        """`kind` names an entry in messages (`build.engine`, `clean step`); `group`: its entry points."""
        self.kind = kind
        self.group = group
        self._entries: dict[str, T | _Lazy] = {name: _Lazy(t) for name, t in (builtins or {}).items()}
        self._discovered = False

    def register(
        self, name: str, target: T | str, *, before: str | None = None, after: str | None = None
    ) -> None:
        """Add `target` (an object, or a lazy `"module:attr"` string); a known name keeps its place.

        `before`/`after` place it next to another entry instead (moving it if it exists).
        """
        entry: T | _Lazy = _Lazy(target) if isinstance(target, str) else target
        if before is None and after is None:
            self._entries[name] = entry
            return
        if before is not None and after is not None:
            raise ConfigError(f"{self.kind} {name!r}: give `before` or `after`, not both.")
        anchor = before if before is not None else after
        if anchor not in self._entries:
            raise UnknownNameError(self.unknown(str(anchor)))
        items = [(key, value) for key, value in self._entries.items() if key != name]
        position = next(i for i, (key, _) in enumerate(items) if key == anchor) + (after is not None)
        items.insert(position, (name, entry))
        self._entries = dict(items)

    def unregister(self, name: str) -> None:
        """Forget `name`; unknown names are ignored, so cleanup code can always call it."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry for `name`, importing its target on first use."""
        self._discover()
        if name not in self._entries:
            raise UnknownNameError(self.unknown(name))
        entry = self._entries[name]
        if not isinstance(entry, _Lazy):
            return entry
        loaded = load_target(entry.target)
        current = self._entries.get(name)
        if current is not None and not isinstance(current, _Lazy):
            return current  # the module registered the name itself while importing
        self._entries[name] = loaded
        return loaded

    def names(self) -> list[str]:
        """Every name, built-in and installed, without importing any target."""
        self._discover()
        return list(self._entries)

    def values(self) -> list[T]:
        """Every entry, in order; imports every target."""
        return [self.get(name) for name in self.names()]

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def unknown(self, name: str) -> str:
        """The one message for a name nothing registered: it lists what is."""
        known = ", ".join(self.names()) or "none"
        return f"{self.kind} {name!r} is unknown; known: {known}."

    def _discover(self) -> None:
        """Read installed packages once: this kind's entry points, then the `dsforge.plugins` modules."""
        if self._discovered:
            return
        self._discovered = True  # first: plugin modules call register while they are imported
        for entry in sorted(metadata.entry_points(group=self.group), key=lambda e: e.name):
            self._entries[entry.name] = _Lazy(entry.value)
        load_plugins()
