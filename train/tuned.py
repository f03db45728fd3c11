"""Which tuned model `dsforge eval` compares with the base, and the card that says what it is.

By default the adapter this project's `dsforge train` wrote. `eval.tuned_path`
(`dsforge eval --model FOLDER`) names another: an adapter or full model that
`dsforge merge` wrote (its `merge.json` is the card), or the `adapter` or
`merged` folder of another build (the `run.json` beside it). A folder without
either card is refused: a report must say what it measured. Its results go to
`<output>/eval-<folder name>/`, leaving the project's own evaluation alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.errors import TrainError
from core.layout import TrainPaths, run_card_beside
from train.run_card import RunCard, read_run_card

if TYPE_CHECKING:
    from core.config import DsforgeConfig


@dataclass(frozen=True)
class TunedModel:
    path: Path
    kind: Literal["adapter", "model"]
    card: RunCard
    source: Literal["train", "merge"]


def eval_paths(config: DsforgeConfig) -> TrainPaths:
    """The project's paths, with the eval folder moved aside when another model is evaluated."""
    if config.eval.tuned_path is None:
        return TrainPaths(config.output_dir)
    return TrainPaths(config.output_dir).with_eval(f"eval-{tuned_folder(config).name}")


def tuned_folder(config: DsforgeConfig) -> Path:
    assert config.eval.tuned_path is not None
    return (config.project_root / config.eval.tuned_path).expanduser().resolve()


def locate_tuned(config: DsforgeConfig) -> TunedModel:
    """The tuned model to evaluate and its card; errors say which command makes one."""
    paths = TrainPaths(config.output_dir)
    if config.eval.tuned_path is None:
        card = read_run_card(paths.run_json)
        if card is None or card.status != "complete":
            raise TrainError(f"no finished training run in {paths.root}; run `dsforge train` first.")
        return TunedModel(paths.adapter, "adapter", card, "train")
    folder = tuned_folder(config)
    if (folder / "adapter_config.json").is_file():
        kind: Literal["adapter", "model"] = "adapter"
    elif (folder / "config.json").is_file() and any(folder.glob("*.safetensors")):
        kind = "model"
    else:
        raise TrainError(
            f"eval.tuned_path {folder} is neither an adapter folder (adapter_config.json) nor a model folder "
            "(config.json + safetensors); point it at what `dsforge merge` or `dsforge train` wrote."
        )
    from train.merge import as_run_card, read_merge_card

    merged = read_merge_card(folder)
    if merged is not None:
        return TunedModel(folder, kind, as_run_card(merged), "merge")
    card = read_run_card(run_card_beside(folder))
    if card is None or card.status != "complete":
        raise TrainError(
            f"{folder} has no merge.json and no finished run.json beside it, so nothing says what it is; "
            "evaluate folders that `dsforge merge` or `dsforge train` wrote."
        )
    return TunedModel(folder, kind, card, "train")
