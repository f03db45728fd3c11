"""The project configuration: one YAML file, validated, overridable from the environment.

Precedence: environment (`DSFORGE_<SECTION>__<KEY>`) over `dsforge.yaml` over
defaults. Secrets never live here: a provider names the environment variable
that holds its key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.errors import ConfigError, PathEscapeError
from core.options.build import BuildOptions
from core.options.clean import CleanOptions
from core.options.export import ExportOptions
from core.options.extraction import ExtractionOptions
from core.options.ingest import IngestOptions
from core.options.judge import ItemJudgeOptions
from core.options.records import RecordOptions
from core.options.review import ReviewOptions
from core.options.split import SplitOptions
from core.options.train import EvalOptions, TrainOptions

CONFIG_NAME = "dsforge.yaml"
# Model ids of the in-process llama.cpp provider (builder.providers.llamacpp) start with this.
GGUF_PREFIX = "dsforge-gguf:"
DEFAULT_MODEL = f"{GGUF_PREFIX}qwen2.5-coder-1.5b"
SECRET_KEYS = frozenset({"api_key", "password", "token", "secret"})


class ProviderConfig(BaseModel):
    """Which model extracts, and how it is reached."""

    model_config = ConfigDict(extra="forbid")

    model_id: str = Field(DEFAULT_MODEL, description="langextract model id, e.g. gemini-2.5-flash, gpt-4o-mini")
    params: dict[str, Any] = Field(default_factory=dict, description="provider constructor kwargs")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the key")
    base_url: str | None = Field(None, description="server URL, e.g. http://127.0.0.1:8080/v1 for openai-compat:")

    @field_validator("params")
    @classmethod
    def _no_secrets(cls, params: dict[str, Any]) -> dict[str, Any]:
        leaked = sorted(k for k in params if k.lower() in SECRET_KEYS)
        if leaked:
            raise ValueError(
                f"{leaked} must not be written in the config; set provider.api_key_env to the name "
                "of an environment variable that holds it."
            )
        return params

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class DsforgeConfig(BaseSettings):
    """Everything `dsforge build` needs; paths are relative to the config file's folder."""

    model_config = SettingsConfigDict(
        env_prefix="DSFORGE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    input: Path = Field(Path("docs"), description="folder of raw documents")
    output: Path = Field(Path("build"), description="folder the build writes")
    schema_ref: str = Field(alias="schema", description="'pkg.module:Class' or 'file.py:Class'")
    provider: ProviderConfig = Field(default_factory=ProviderConfig)
    ingest: IngestOptions = Field(default_factory=IngestOptions)
    clean: CleanOptions = Field(default_factory=CleanOptions)
    extraction: ExtractionOptions = Field(default_factory=ExtractionOptions)
    judge: ItemJudgeOptions = Field(default_factory=ItemJudgeOptions)
    records: RecordOptions = Field(default_factory=RecordOptions)
    build: BuildOptions = Field(default_factory=BuildOptions)
    split: SplitOptions = Field(default_factory=SplitOptions)
    export: ExportOptions = Field(default_factory=ExportOptions)
    review: ReviewOptions = Field(default_factory=ReviewOptions)
    train: TrainOptions = Field(default_factory=TrainOptions)
    eval: EvalOptions = Field(default_factory=EvalOptions)
    project_root: Path = Field(Path("."), exclude=True, description="set from the config file's location")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML arrives as init kwargs; the environment must beat it.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _requests_in_flight(self) -> DsforgeConfig:
        """`extraction.max_workers: auto` becomes the number this provider takes."""
        self.extraction = self.extraction.resolved_for(self.provider.model_id, self.provider.params)
        return self

    def resolve(self, path: Path) -> Path:
        """A config path made absolute, refused if it leaves the project folder."""
        root = self.project_root.resolve()
        resolved = (root / path).resolve()
        if not resolved.is_relative_to(root):
            raise PathEscapeError(f"{path} resolves to {resolved}, outside the project folder {root}.")
        return resolved

    @property
    def input_dir(self) -> Path:
        return self.resolve(self.input)

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.output)


def load_config(path: Path) -> DsforgeConfig:
    """Read and validate `dsforge.yaml`; errors name the key and the fix."""
    if not path.is_file():
        raise ConfigError(f"no config at {path}; create one with `dsforge init`.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping of settings, got {type(raw).__name__}.")
    if "project_root" in raw:
        raise ConfigError(f"{path}: 'project_root' is derived from the config's location; remove it.")
    try:
        return DsforgeConfig(**raw, project_root=path.resolve().parent)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(path, exc)) from None


def format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path} has {exc.error_count()} problem(s):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against `dsforge init`"
        elif error["type"] == "missing":
            message = "required; add it"
        shown = "" if any(s in key.lower() for s in SECRET_KEYS) else _shown(error.get("input"))
        lines.append(f"  - {key}: {message}{shown}")
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = repr(value)
    return f" (got {text[:60]})"
