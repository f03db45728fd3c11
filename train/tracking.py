"""`train.report_to`: the run's curves and its lineage in the tracker a team already reads.

transformers' own integration callbacks log the losses and the trainer's arguments; this
module picks where they write (inside the run's folder unless the user's environment names a
server) and adds what only dsforge knows as run parameters: the run and dataset fingerprints,
the build that made the data, who reviewed it. Nothing here changes what is trained, so the
option is not part of the run's fingerprint. Credentials (a W&B key, an MLflow token) are read
by the trackers from the environment and never pass through dsforge.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.errors import ConfigError

# tracker → (module it imports, what to install for it)
TRACKERS = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "mlflow": ("mlflow", "mlflow-skinny"),
    "wandb": ("wandb", "wandb"),
}
EXTRA = "tracking"  # pip install 'dsforge[tracking]' brings tensorboard and mlflow-skinny


def require_trackers(names: Sequence[str]) -> None:
    """Fail before any weight loads when a chosen tracker is not installed, naming what to install."""
    missing = [name for name in names if importlib.util.find_spec(TRACKERS[name][0]) is None]
    if missing:
        packages = " ".join(TRACKERS[name][1] for name in missing)
        raise ConfigError(
            f"train.report_to names {', '.join(missing)}, which is not installed: "
            f"pip install 'dsforge[{EXTRA}]' (tensorboard, mlflow) or pip install {packages}; "
            "or set report_to: none."
        )


def lineage_params(
    run_fingerprint: str, dataset_fingerprint: str, base_ref: str, lineage: dict[str, Any] | None
) -> dict[str, str]:
    """The run's lineage as flat string parameters (every tracker takes these)."""
    lineage = lineage or {}
    build = lineage.get("build") or {}
    review = lineage.get("review") or {}
    model = build.get("model") or {}
    params = {
        "dsforge.run_fingerprint": run_fingerprint,
        "dsforge.dataset_fingerprint": dataset_fingerprint,
        "dsforge.base_model": base_ref,
        "dsforge.schema": (lineage.get("schema") or {}).get("name"),
        "dsforge.build_report_sha256": build.get("report_sha256"),
        "dsforge.extraction_model": model.get("model_id"),
        "dsforge.extraction_model_sha256": model.get("sha256"),
        "dsforge.reviewed": review.get("reviewed"),
        "dsforge.review_mode": (review.get("report") or {}).get("mode"),
        "dsforge.reviewers": ",".join(str(r) for r in review.get("reviewers") or []) or None,
        "dsforge.review_agreement": review.get("mean_agreement"),
        "dsforge.dataset_sizes": ",".join(
            f"{split}={n}" for split, n in ((lineage.get("dataset") or {}).get("sizes") or {}).items()
        )
        or None,
        "dsforge.version": lineage.get("dsforge_version"),
    }
    return {key: str(value) for key, value in params.items() if value is not None}


def tracking_callbacks(names: Sequence[str], folder: Path, params: dict[str, str]) -> list[Any]:
    """transformers' callbacks for `names`, writing under `folder`, then one that logs `params` to each.

    TensorBoard writes to `folder/tensorboard`; MLflow to the server in `MLFLOW_TRACKING_URI`,
    else a local store in `folder/mlruns`; W&B offline into `folder` unless `WANDB_MODE` or a
    `WANDB_API_KEY` says otherwise.
    """
    if not names:
        return []
    require_trackers(names)
    from transformers.integrations import MLflowCallback, TensorBoardCallback, WandbCallback

    callbacks: list[Any] = []
    if "tensorboard" in names:
        board = TensorBoardCallback()
        board.logging_dir = str(folder / "tensorboard")
        callbacks.append(board)
    if "mlflow" in names:
        _local_mlflow_store(folder / "mlruns")
        callbacks.append(MLflowCallback())
    if "wandb" in names:
        if "WANDB_MODE" not in os.environ and "WANDB_API_KEY" not in os.environ:
            os.environ["WANDB_MODE"] = "offline"
        os.environ.setdefault("WANDB_DIR", str(folder))
        folder.mkdir(parents=True, exist_ok=True)
        callbacks.append(WandbCallback())
    return [*callbacks, _lineage_callback(list(names), params, callbacks)]


def tracked_at(names: Sequence[str], folder: Path) -> dict[str, str]:
    """Where each tracker's run went, for the run card (a server's address, never its credentials)."""
    places = {"tensorboard": str(folder / "tensorboard"), "wandb": str(folder / "wandb")}
    if "mlflow" in names:
        import mlflow

        places["mlflow"] = _without_credentials(mlflow.get_tracking_uri())
    return {name: places[name] for name in names}


def _without_credentials(uri: str) -> str:
    """`https://user:token@host/…` → `https://host/…`."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts)


def _local_mlflow_store(store: Path) -> None:
    """Point MLflow at a file store in the run's folder unless the environment names a tracking server."""
    import mlflow

    if os.environ.get("MLFLOW_TRACKING_URI"):
        return
    # mlflow-skinny has no database store; its file store is kept for local use behind this switch
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # a local store stays local
    # (not created here: MLflow makes its default experiment only in a store it creates itself)
    mlflow.set_tracking_uri(store.resolve().as_uri())


def _lineage_callback(names: list[str], params: dict[str, str], integrations: list[Any]) -> Any:
    """A callback logging the run's lineage to every chosen tracker once its run has started (rank 0).

    It comes after the integration callbacks, so on `on_train_begin` their runs and writers exist.
    """
    from transformers import TrainerCallback

    class LineageCallback(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                _log_lineage(names, params, integrations)

    return LineageCallback()


def _log_lineage(names: list[str], params: dict[str, str], integrations: list[Any]) -> None:
    if "mlflow" in names:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_params(params)
            mlflow.set_tags({"dsforge.run_fingerprint": params["dsforge.run_fingerprint"]})
    if "tensorboard" in names:
        table = "\n".join(f"| {key} | {value} |" for key, value in params.items())
        for callback in integrations:
            writer = getattr(callback, "tb_writer", None)
            if writer is not None:
                writer.add_text("dsforge/lineage", "| parameter | value |\n|---|---|\n" + table)
                writer.flush()
    if "wandb" in names:
        import wandb

        if wandb.run is not None:
            wandb.config.update(params, allow_val_change=True)
