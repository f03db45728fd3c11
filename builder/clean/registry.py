"""Named text steps in run order, spaCy-factory style.

A step is a factory `(CleanOptions) -> (str -> str) | None`; returning None
switches it off for those options. Adding a step is one module that calls
`register_step` (imported before cleaning, or installed as a `dsforge.plugins`
entry point), or one `dsforge.clean_steps` entry point `name = module:factory`,
which runs after the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable

from core.options.clean import CleanOptions
from core.registry import Registry

TextStep = Callable[[str], str]
StepFactory = Callable[[CleanOptions], TextStep | None]

# Run order. Encoding fixes come first so markup and PII are seen in canonical form; PII
# runs before case/punctuation changes that would hide names and addresses from the
# detectors; whitespace is tidied last, after every deletion.
STEPS: Registry[StepFactory] = Registry(
    "clean step",
    group="dsforge.clean_steps",
    builtins={
        "unicode": "builder.clean.steps.unicode:make_unicode",
        "strip_control_chars": "builder.clean.steps.control:make_control",
        "strip_html": "builder.clean.steps.markup:make_markup",
        "pii": "builder.clean.steps.pii:make_pii",
        "lowercase": "builder.clean.steps.case:make_lowercase",
        "strip_punctuation": "builder.clean.steps.punctuation:make_punctuation",
        "remove_stopwords": "builder.clean.steps.stopwords:make_stopwords",
        "normalize_whitespace": "builder.clean.steps.whitespace:make_whitespace",
        "unwrap_lines": "builder.clean.steps.whitespace:make_unwrap",
    },
)


def register_step(
    name: str, *, before: str | None = None, after: str | None = None
) -> Callable[[StepFactory], StepFactory]:
    """Decorator; appends the step unless placed `before`/`after` another. Re-registering a name replaces it in place."""

    def decorate(factory: StepFactory) -> StepFactory:
        STEPS.register(name, factory, before=before, after=after)
        return factory

    return decorate


def unregister_step(name: str) -> None:
    STEPS.unregister(name)


def step_names() -> list[str]:
    return STEPS.names()


def build_steps(options: CleanOptions) -> list[tuple[str, TextStep]]:
    """The enabled steps for `options`, in run order."""
    built = [(name, STEPS.get(name)(options)) for name in STEPS.names()]
    return [(name, fn) for name, fn in built if fn is not None]
