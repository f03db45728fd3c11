"""Which engine runs `dsforge build`, and how the Ray engine reaches and sizes its cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.registry import Registry, UnknownNameError

# The engines `build.engine` may name: `config -> BuildSummary` functions as lazy `module:attr`
# rows, so the options import neither the builder nor Ray; an installed package adds one through a
# `dsforge.engines` entry point (builder/engines runs them).
ENGINES: Registry[Callable[..., Any]] = Registry(
    "build.engine",
    group="dsforge.engines",
    builtins={"local": "builder.pipeline:build", "ray": "builder.engines.ray_engine:build"},
)


class RayOptions(BaseModel):
    """A local Ray started for the build, or a running cluster (`address` or `RAY_ADDRESS`)."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None, description="cluster to join; default RAY_ADDRESS, else start a local Ray"
    )
    num_cpus: int | None = Field(
        None, ge=1, description="local Ray only; default: the CPUs this process may use"
    )
    object_store_mb: int = Field(256, ge=80, description="local Ray only; spills to disk beyond it")
    extract_workers: int = Field(1, ge=1, description="extraction actors, each holding one model")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs reserved per extraction actor")
    gpus_per_worker: float = Field(0.0, ge=0, description="GPUs reserved per extraction actor")
    files_per_task: int = Field(64, ge=1, description="files one ingest + clean task reads")


class BuildOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: str = Field(
        "local",
        min_length=1,
        description="local: one process; ray: Ray Data; or one an installed package registers (dsforge.engines)",
    )
    ray: RayOptions = Field(default_factory=RayOptions)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, name: str) -> str:
        if name not in ENGINES:
            raise UnknownNameError(ENGINES.unknown(name))
        return name
