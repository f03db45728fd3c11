"""Find the user's schema class from a config reference."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from core.errors import DraftSchemaError, PathEscapeError, SchemaError
from schemas.base import DRAFT_MARKER, ExtractionSchema


def load_schema(ref: str, project_root: Path) -> type[ExtractionSchema]:
    """`package.module:Class` or `path/inside/project.py:Class`."""
    if ":" not in ref:
        raise SchemaError(
            f"schema {ref!r} must look like 'my_pkg.my_module:MySchema' or 'schemas/mine.py:MySchema'."
        )
    location, class_name = ref.rsplit(":", 1)
    module = _load_file(location, project_root) if location.endswith(".py") else _import(location)
    if getattr(module, DRAFT_MARKER, None) is not None:
        sys.modules.pop(getattr(module, "__name__", ""), None)  # read again once the line is gone
        raise DraftSchemaError(
            f"schema {ref!r} is a draft that `dsforge init --draft` wrote from your documents: read it, fix "
            f"what does not fit, then delete its `{DRAFT_MARKER} = ...` line."
        )
    schema = getattr(module, class_name, None)
    if schema is None:
        raise SchemaError(f"schema {ref!r}: {location} has no class {class_name!r}.")
    if not (isinstance(schema, type) and issubclass(schema, ExtractionSchema)) or not schema.extraction_class:
        raise SchemaError(
            f"schema {ref!r} must be a subclass of schemas.base.ExtractionSchema with extraction_class set."
        )
    return schema


def _import(module_name: str) -> object:
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        raise SchemaError(f"cannot import schema module {module_name!r}: {exc}") from exc


def _load_file(location: str, project_root: Path) -> object:
    root = project_root.resolve()
    path = (root / location).resolve()
    if not path.is_relative_to(root):
        raise PathEscapeError(f"schema file {location!r} is outside the project folder {root}.")
    if not path.is_file():
        raise SchemaError(f"schema file {path} does not exist; check 'schema' in dsforge.yaml.")
    # A stable, path-derived module name keeps repeated loads from piling up modules.
    module_name = "dsforge_user_schema_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if module_name in sys.modules:
        return sys.modules[module_name]
    return exec_schema_file(path, module_name)


def exec_schema_file(path: Path, module_name: str) -> object:
    """Run a schema file as module `module_name` (kept in sys.modules, so pydantic resolves its
    annotations); any failure is a SchemaError and leaves nothing registered."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SchemaError(f"cannot load schema file {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SchemaError:
        del sys.modules[module_name]
        raise
    except Exception as exc:
        del sys.modules[module_name]
        raise SchemaError(f"schema file {path} failed to load: {exc}") from exc
    return module
