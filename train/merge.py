"""`dsforge merge`: fuse LoRA adapters, and/or fold them into the base, with their lineage.

Adapters trained on different datasets or seeds are combined with peft's own
`add_weighted_adapter` (linear, SVD, concatenation, TIES, DARE, magnitude
pruning); `merge_and_unload` folds an adapter into the base weights. Every
input must have been trained on the same base weights (checked against the
provenance on its run card). The output folder (an adapter, or a full model)
is written beside its target and swapped in, with `merge.json` for machines
and `README.md` as its model card; `dsforge eval --model FOLDER` evaluates it
like any trained adapter.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core import atomic
from core.clock import utc_now
from core.errors import TrainError
from core.hashing import file_sha256
from core.layout import run_card_beside
from schemas.types import content_id
from train import run_card as cards
from train.base_models import ResolvedBase, resolve_base_model
from train.card_sections import BaseModelRecord, DatasetRecord, Hyperparameters
from train.loading import Hardware, load_model, load_tokenizer, pick_hardware

log = logging.getLogger(__name__)

MERGE_JSON = "merge.json"
MODEL_CARD = "README.md"
Combination = Literal["linear", "svd", "cat", "ties", "dare_linear", "dare_ties", "magnitude_prune"]
NEEDS_DENSITY = frozenset({"ties", "dare_linear", "dare_ties", "magnitude_prune"})
# TIES-style methods already average the entries whose signs agree; the others add.
SIGN_ELECTING = frozenset({"ties", "dare_ties"})
SAME_RANK = frozenset({"linear", "ties", "dare_linear", "dare_ties", "magnitude_prune"})
DEFAULT_DENSITY = 0.5


class MergeOptions(BaseModel):
    """How adapters are combined; the same inputs and options give the same merged weights."""

    model_config = ConfigDict(extra="forbid")

    combination: Combination = Field(
        "linear",
        description="peft combination_type; svd and cat are exact, linear/ties/dare combine A and B separately",
    )
    weights: list[float] | None = Field(
        None, description="one per adapter; default: 1/n each (1.0 each for ties and dare_ties)"
    )
    density: float | None = Field(
        None,
        gt=0,
        le=1,
        description=f"share of entries kept by ties/dare/magnitude_prune (default {DEFAULT_DENSITY})",
    )
    majority_sign_method: Literal["total", "frequency"] = "total"
    into_base: bool = Field(
        False, description="fold the (combined) adapter into the base: a full model folder"
    )
    seed: int = Field(42, description="DARE drops entries at random; the seed makes it repeatable")

    @model_validator(mode="after")
    def _density_only_where_used(self) -> MergeOptions:
        if self.density is not None and self.combination not in NEEDS_DENSITY:
            raise ValueError(
                f"density applies to {sorted(NEEDS_DENSITY)}, not {self.combination!r}; drop it or change the method"
            )
        return self


class MergeInput(BaseModel):
    """One adapter that went into a merge, and where it came from."""

    path: str
    weights_sha256: dict[str, str]
    peft_type: str
    r: int | None
    source: Literal["run", "merge"] = Field(description="trained (run.json) or itself a merge (merge.json)")
    fingerprint: str = Field(
        description="run fingerprint of a trained adapter, merge fingerprint of a merged one"
    )
    dataset: DatasetRecord = Field(
        default_factory=DatasetRecord, description="fingerprint, path and split sizes"
    )
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    merged_from: list[dict[str, Any]] = Field(default_factory=list, description="inputs of a merged input")


class MergeCard(BaseModel):
    """What a merged adapter or model is made of: enough to rebuild and to trust it."""

    kind: Literal["adapter", "model"]
    fingerprint: str
    options: MergeOptions
    weights: list[float]
    density: float | None
    base_model: BaseModelRecord = Field(description="ref, path and provenance of the shared base")
    inputs: list[MergeInput]
    compute_dtype: str
    versions: dict[str, str]
    created_at: str
    seconds: float


def merge(
    adapters: list[Path],
    output: Path,
    options: MergeOptions,
    project_root: Path = Path("."),
    hardware: Hardware | None = None,
) -> MergeCard:
    """Combine `adapters` (and/or fold into the base) into `output`; skip when already done.

    `hardware`: where the base is loaded; None picks it for the inputs' compute dtype. Training
    passes its own choice (distributed.merge_hardware: CPU memory after a sharded run).
    """
    if not adapters:
        raise TrainError("name at least one adapter folder to merge.")
    if len(adapters) == 1 and not options.into_base:
        raise TrainError(
            "one adapter alone has nothing to combine with; add adapters or pass --into-base to fold it "
            "into the base model."
        )
    if output.resolve() in {a.resolve() for a in adapters}:
        raise TrainError(f"--out {output} is one of the inputs; write the merge to a new folder.")
    inputs = [describe_input(path) for path in adapters]
    base = shared_base(adapters, project_root)
    weights = resolve_weights(options, len(adapters))
    density = (options.density or DEFAULT_DENSITY) if options.combination in NEEDS_DENSITY else None
    _check_compatible(inputs, options)
    fingerprint = content_id(
        [(i.fingerprint, i.weights_sha256) for i in inputs],
        options.model_dump(mode="json"),
        weights,
        density,
        base.provenance,
        prefix="merge-",
    )
    done = read_merge_card(output)
    if done is not None and done.fingerprint == fingerprint and _weights_exist(output, done.kind):
        log.info("merge already complete for %s; nothing to do", fingerprint)
        return done

    started, clock = utc_now(), time.perf_counter()
    if hardware is None:
        hardware = pick_hardware(_input_dtype(inputs))
    model = combine(base.path, adapters, options, weights, density, hardware)
    kind: Literal["adapter", "model"] = "model" if options.into_base else "adapter"
    if options.into_base:
        model = model.merge_and_unload()
    tokenizer = load_tokenizer(
        adapters[0] if (adapters[0] / "tokenizer_config.json").is_file() else base.path
    )
    card = MergeCard(
        kind=kind,
        fingerprint=fingerprint,
        options=options,
        weights=weights,
        density=density,
        base_model={"ref": base.ref, "path": str(base.path), **base.provenance},
        inputs=inputs,
        compute_dtype=str(hardware.compute_dtype),
        versions=cards.package_versions(),
        created_at=started,
        seconds=round(time.perf_counter() - clock, 2),
    )

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        atomic.write_text(folder / MODEL_CARD, render_model_card(card))
        atomic.write_json(folder / MERGE_JSON, card)

    atomic.replace_dir(output, write)
    return card


def combine(
    base_path: Path,
    adapters: list[Path],
    options: MergeOptions,
    weights: list[float],
    density: float | None,
    hardware: Any,
) -> Any:
    """A PeftModel whose only adapter, `default`, is the weighted combination of the inputs."""
    import torch
    from peft import PeftModel

    # Merging into 4-bit weights would round the result: always the full-precision base.
    model = load_model(base_path, hardware, load_in_4bit=False, for_training=False)
    names = [f"input{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(model, adapters[0], adapter_name=names[0])
    for name, path in zip(names[1:], adapters[1:], strict=True):
        model.load_adapter(path, adapter_name=name)
    if len(adapters) == 1 and weights == [1.0]:
        model.set_adapter(names[0])
        return model
    devices = list(range(torch.cuda.device_count()))
    # DARE's drops draw from torch's global generator: seed a private copy of it, not the caller's.
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(options.seed)
        _add_weighted(model, names, weights, options, density)
    model.set_adapter("default")
    for name in names:
        model.delete_adapter(name)
    return model


def _add_weighted(
    model: Any, names: list[str], weights: list[float], options: MergeOptions, density: float | None
) -> None:
    try:
        model.add_weighted_adapter(
            adapters=names,
            weights=weights,
            adapter_name="default",
            combination_type=options.combination,
            density=density,
            majority_sign_method=options.majority_sign_method,
        )
    except (ValueError, AttributeError) as exc:
        raise TrainError(f"peft cannot combine these adapters with {options.combination!r}: {exc}") from exc


def describe_input(adapter: Path) -> MergeInput:
    """An adapter folder with the card that says where it came from."""
    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise TrainError(
            f"{adapter} is not an adapter folder (no adapter_config.json); name the `adapter` folder a "
            "`dsforge train` wrote (<output>/train/adapter) or one `dsforge merge` wrote."
        )
    config = json.loads(config_file.read_text("utf-8"))
    weights = {w.name: file_sha256(w) for w in sorted(adapter.glob("adapter_model.*"))}
    if not weights:
        raise TrainError(f"{adapter} has no adapter_model.safetensors; train or merge it again.")
    common = {
        "path": str(adapter.resolve()),
        "weights_sha256": weights,
        "peft_type": str(config.get("peft_type")),
        "r": config.get("r"),
    }
    merged = read_merge_card(adapter)
    if merged is not None:
        return MergeInput(
            **common,
            source="merge",
            fingerprint=merged.fingerprint,
            hyperparameters={
                "combination": merged.options.combination,
                "weights": merged.weights,
                # a merge of a merge computes in the dtype its inputs were made in
                "compute_dtype": merged.compute_dtype.removeprefix("torch."),
            },
            merged_from=[i.model_dump(mode="json") for i in merged.inputs],
        )
    card = cards.read_run_card(run_card_beside(adapter))
    if card is None or card.status != "complete":
        raise TrainError(
            f"no finished run card beside {adapter} ({run_card_beside(adapter)}); without it the "
            "adapter's data and base are unknown. Merge adapters that `dsforge train` or `dsforge merge` wrote."
        )
    hp = card.hyperparameters
    return MergeInput(
        **common,
        source="run",
        fingerprint=card.fingerprint,
        dataset={"fingerprint": card.dataset.fingerprint, "path": card.dataset.path, "sizes": card.dataset.sizes},
        hyperparameters={
            k: getattr(hp, k)
            for k in (
                "mode",
                "lora_r",
                "lora_alpha",
                "learning_rate",
                "seed",
                "max_steps",
                "epochs",
                "compute_dtype",
            )
        }
        | {"steps": card.steps, "best_eval_loss": card.best_eval_loss},
    )


def base_record(adapter: Path) -> dict[str, Any]:
    """The base model an adapter was trained on (or merged onto), as its card recorded it."""
    merged = read_merge_card(adapter)
    if merged is not None:
        return merged.base_model.model_dump(mode="json")
    card = cards.read_run_card(run_card_beside(adapter))
    if card is None:
        raise TrainError(f"no run card beside {adapter}; cannot tell which base model it belongs to.")
    return card.base_model.model_dump(mode="json")


def shared_base(adapters: list[Path], project_root: Path) -> ResolvedBase:
    """The one base every adapter was trained on, resolved now and checked against the cards."""
    records = [base_record(a) for a in adapters]
    provenances = [_provenance(r) for r in records]
    if any(p != provenances[0] for p in provenances[1:]):
        names = ", ".join(f"{a} → {r.get('ref')}" for a, r in zip(adapters, records, strict=True))
        raise TrainError(
            f"the adapters were trained on different base weights ({names}); only adapters of one base merge."
        )
    base = resolve_recorded_base(records[0], project_root)
    if _provenance(base.provenance) != provenances[0]:
        raise TrainError(
            f"the base model {records[0].get('ref')!r} on this machine is not the one the adapters were "
            "trained on (its provenance differs from their run cards); restore those weights first."
        )
    return base


def resolve_recorded_base(record: dict[str, Any], project_root: Path) -> ResolvedBase:
    """A catalogue name or absolute path resolves anywhere; a relative folder by its recorded path."""
    ref = str(record.get("ref"))
    from builder.model_store import CATALOGUE

    if ref in CATALOGUE or Path(ref).is_absolute():
        return resolve_base_model(ref, project_root)
    return resolve_base_model(str(record.get("path")), project_root)


def resolve_weights(options: MergeOptions, n: int) -> list[float]:
    if options.weights is None:
        return [1.0] * n if options.combination in SIGN_ELECTING or n == 1 else [1.0 / n] * n
    if len(options.weights) != n:
        raise TrainError(f"{len(options.weights)} weight(s) for {n} adapter(s); give one weight per adapter.")
    return list(options.weights)


def read_merge_card(folder: Path) -> MergeCard | None:
    path = folder / MERGE_JSON
    if not path.is_file():
        return None
    return MergeCard.model_validate_json(path.read_text("utf-8"))


def as_run_card(card: MergeCard) -> cards.RunCard:
    """The merge seen as a run, so evaluation and its report treat it like a trained adapter."""
    r = card.inputs[0].r if card.inputs else None
    return cards.RunCard(
        status="complete",
        fingerprint=card.fingerprint,
        base_model=card.base_model,
        dataset={
            "fingerprint": None,
            "merged_from": [i.dataset.get("fingerprint") for i in card.inputs],
            "sizes": {},
            "lineage": None,
        },
        hyperparameters={
            "mode": f"merge ({_method(card)})",
            "lora_r": r,
            "compute_dtype": _input_dtype(card.inputs),
            "weights": card.weights,
            "density": card.density,
            "inputs": [i.path for i in card.inputs],
        },
        memory_policy={},
        versions=card.versions,
        hardware={},
        started_at=card.created_at,
        finished_at=card.created_at,
        train_seconds=0.0,
        train_tokens=0,
        tokens_per_second=0.0,
        peak_memory={},
        steps=0,
        stopped_early=False,
        best_checkpoint=None,
        best_eval_loss=None,
        final_train_loss=None,
        artifacts={card.kind: "merged folder"},
    )


def render_model_card(card: MergeCard) -> str:
    """The human half of the lineage: what was merged, how, and on which base."""
    o = card.options
    combined = (
        f"peft `add_weighted_adapter`, combination `{o.combination}`"
        + (f", density {card.density}" if card.density is not None else "")
        + (f", majority sign `{o.majority_sign_method}`" if o.combination in SIGN_ELECTING else "")
    )
    if _single(card):
        method = "peft `merge_and_unload` of one adapter into the base weights"
    else:
        method = combined + (
            ", then `merge_and_unload` into the base weights" if card.kind == "model" else ""
        )
    lines = [
        f"# Merged {'model' if card.kind == 'model' else 'LoRA adapter'}",
        "",
        f"- method: {method}",
        f"- weights: {card.weights}; seed {o.seed}; computed in {card.compute_dtype}",
        f"- base model: `{card.base_model.get('ref')}` ({card.base_model.get('path')})",
        f"- fingerprint: `{card.fingerprint}`; created {card.created_at} in {card.seconds:.1f} s",
        "- evaluate it: `dsforge eval -c dsforge.yaml --model <this folder>`",
        "",
        "## Inputs",
        "",
        "| # | adapter | source | fingerprint | dataset | sizes | weight | r | seed | lr |",
        "| ---: | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for i, (item, weight) in enumerate(zip(card.inputs, card.weights, strict=True)):
        hp = item.hyperparameters
        lines.append(
            f"| {i} | `{item.path}` | {item.source} | `{item.fingerprint}` | `{item.dataset.get('fingerprint')}` "
            f"| {item.dataset.get('sizes')} | {weight} | {item.r} | {hp.get('seed', '–')} "
            f"| {hp.get('learning_rate', '–')} |"
        )
    lines += [
        "",
        "## Lineage",
        "",
        "```json",
        json.dumps([i.model_dump(mode="json") for i in card.inputs], indent=2)[:20000],
        "```",
        "",
        "## Base model provenance",
        "",
        "```json",
        json.dumps(card.base_model.model_dump(mode="json"), indent=2, default=str),
        "```",
        "",
        "## Versions",
        "",
        *[f"- {k}: {v}" for k, v in card.versions.items()],
        "",
    ]
    return "\n".join(lines)


def _single(card: MergeCard) -> bool:
    """One adapter at weight 1 is folded in as it is: no combination happens."""
    return len(card.inputs) == 1 and card.weights == [1.0]


def _method(card: MergeCard) -> str:
    if _single(card):
        return "into base"
    return card.options.combination + (", into base" if card.kind == "model" else "")


def _check_compatible(inputs: list[MergeInput], options: MergeOptions) -> None:
    if len(inputs) == 1:
        return
    not_lora = [i.path for i in inputs if i.peft_type != "LORA"]
    if not_lora:
        raise TrainError(
            f"weighted merging combines LoRA adapters only; {not_lora} are not LoRA. Fold each into the base "
            "on its own with --into-base instead."
        )
    ranks = {i.r for i in inputs}
    if options.combination in SAME_RANK and len(ranks) > 1:
        raise TrainError(
            f"{options.combination!r} needs adapters of one rank, got r={sorted(ranks)}; use --method svd "
            "or --method cat, which accept different ranks."
        )


def _input_dtype(inputs: list[MergeInput]) -> str:
    dtypes = {i.hyperparameters.get("compute_dtype") or "auto" for i in inputs}
    return dtypes.pop() if len(dtypes) == 1 else "auto"


def _provenance(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in {"ref", "path"}}


def _weights_exist(folder: Path, kind: str) -> bool:
    pattern = "adapter_model.*" if kind == "adapter" else "model*.safetensors"
    return any(folder.glob(pattern))
