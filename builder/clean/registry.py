"""Named text steps in run order, spaCy-factory style.

A step is a factory `(CleanOptions) -> (str -> str) | None`; returning None
switches it off for those options. Adding a step is one module that calls
`register_step` and is imported before cleaning runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ConfigError
from core.options.clean import CleanOptions

TextStep = Callable[[str], str]
StepFactory = Callable[[CleanOptions], TextStep | None]


@dataclass(frozen=True)
class RegisteredStep:
    name: str
    factory: StepFactory


_steps: list[RegisteredStep] = []
_builtins_loaded = False


def register_step(
    name: str, *, before: str | None = None, after: str | None = None
) -> Callable[[StepFactory], StepFactory]:
    """Decorator; appends the step unless placed `before`/`after` another. Re-registering a name replaces it in place."""
    _load_builtins()

    def decorate(factory: StepFactory) -> StepFactory:
        entry = RegisteredStep(name=name, factory=factory)
        existing = _index(name)
        if existing is not None and before is None and after is None:
            _steps[existing] = entry
            return factory
        if existing is not None:
            del _steps[existing]
        if before is not None and after is not None:
            raise ConfigError(f"step {name!r}: give `before` or `after`, not both.")
        anchor = before if before is not None else after
        if anchor is None:
            _steps.append(entry)
            return factory
        position = _index(anchor)
        if position is None:
            raise ConfigError(
                f"step {name!r} is placed next to {anchor!r}, which is not registered; known: {step_names()}."
            )
        _steps.insert(position if before is not None else position + 1, entry)
        return factory

    return decorate


def unregister_step(name: str) -> None:
    position = _index(name)
    if position is not None:
        del _steps[position]


def step_names() -> list[str]:
    _load_builtins()
    return [step.name for step in _steps]


def build_steps(options: CleanOptions) -> list[tuple[str, TextStep]]:
    """The enabled steps for `options`, in run order."""
    _load_builtins()
    built = [(step.name, step.factory(options)) for step in _steps]
    return [(name, fn) for name, fn in built if fn is not None]


def _index(name: str) -> int | None:
    return next((i for i, step in enumerate(_steps) if step.name == name), None)


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True  # set first: the imported modules call register_step
        importlib.import_module("builder.clean.steps")
