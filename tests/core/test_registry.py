"""core.registry: lazy built-ins, entry-point discovery, placement and the one unknown-name message."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.registry import Registry, UnknownNameError


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    """A folder on sys.path for the test's modules and dist-info; its modules are unloaded after."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(sys.modules) - before:
            if name.startswith("probe_"):
                del sys.modules[name]


def test_an_unknown_name_lists_the_known_ones() -> None:
    registry: Registry[int] = Registry("colour", group="dsforge.test_colours")
    registry.register("red", 1)
    registry.register("green", 2)
    with pytest.raises(UnknownNameError, match=r"colour 'blue' is unknown; known: red, green\.") as raised:
        registry.get("blue")
    assert isinstance(raised.value, ConfigError) and isinstance(raised.value, ValueError)


def test_a_lazy_target_is_imported_only_when_looked_up(on_path: Path) -> None:
    (on_path / "probe_lazy.py").write_text("VALUE = 42\n")
    builtins = {"answer": "probe_lazy:VALUE"}
    registry: Registry[int] = Registry("probe", group="dsforge.test_probes", builtins=builtins)
    assert registry.names() == ["answer"] and "answer" in registry
    assert "probe_lazy" not in sys.modules
    assert registry.get("answer") == 42
    assert "probe_lazy" in sys.modules


def test_a_module_that_registers_itself_on_import_wins_over_the_bare_attribute(on_path: Path) -> None:
    (on_path / "probe_holder.py").write_text(
        "from core.registry import Registry\n"
        "REGISTRY = Registry('probe', group='dsforge.test_probes', builtins={'fn': 'probe_self:fn'})\n"
    )
    (on_path / "probe_self.py").write_text(
        "import probe_holder\n"
        "def fn(): ...\n"
        "probe_holder.REGISTRY.register('fn', {'label': 'with metadata'})\n"
    )
    registry = importlib.import_module("probe_holder").REGISTRY
    assert registry.get("fn") == {"label": "with metadata"}


def test_installed_entry_points_are_discovered_lazily(on_path: Path) -> None:
    (on_path / "probe_installed.py").write_text("def shout(text): return text.upper()\n")
    dist = on_path / "probe_dist-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: probe-dist\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dsforge.test_steps]\nshout = probe_installed:shout\n")
    registry: Registry = Registry("step", group="dsforge.test_steps", builtins={})
    assert registry.names() == ["shout"]
    assert "probe_installed" not in sys.modules
    assert registry.get("shout")("hi") == "HI"


def test_placement_moves_and_replacement_keeps_the_place() -> None:
    registry: Registry[int] = Registry("step", group="dsforge.test_steps_order")
    for i, name in enumerate(("a", "b", "c")):
        registry.register(name, i)
    registry.register("x", 9, before="b")
    registry.register("a", 7, after="c")
    registry.register("b", 8)
    assert registry.names() == ["x", "b", "c", "a"]
    assert registry.values() == [9, 8, 2, 7]
    registry.unregister("x")
    registry.unregister("never-registered")
    assert registry.names() == ["b", "c", "a"]
    with pytest.raises(UnknownNameError, match="step 'nope' is unknown; known: b, c, a"):
        registry.register("y", 0, after="nope")
    with pytest.raises(ConfigError, match="not both"):
        registry.register("y", 0, before="b", after="c")
