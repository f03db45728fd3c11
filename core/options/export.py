"""The `export:` section of dsforge.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ExportOptions(BaseModel):
    """What the export adds around the records: a system prompt, card metadata, an optional Hub push."""

    model_config = ConfigDict(extra="forbid")

    system_prompt: str | None = Field(None, description="first message of ChatML and ShareGPT rows, if set")
    pretty_name: str | None = Field(None, description="dataset name on the card; default: the schema's name")
    license: str = Field("other", description="license of the dataset, as an HF license id")
    language: list[str] = Field(default_factory=lambda: ["en"])
    hub_repo: str | None = Field(None, description="push to this Hub dataset repo, e.g. org/name")
    hub_token_env: str = Field("HF_TOKEN", description="environment variable holding the Hub token")
    hub_private: bool = True
