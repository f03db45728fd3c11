"""Where every stage reads and writes under a project's output folder, named once.

Stages hand each other files, not objects: review reads the build's records,
split reads review's approved records, train reads the export. Naming each
file here, and nowhere else, keeps a stage from reading a path another stage
stopped writing. `ProjectLayout(output)` is the way in; the per-stage classes
are what each stage's functions take.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.options.split import SPLIT_ORDER

SPLITS = SPLIT_ORDER
# The exported DatasetDict's flat columns (a nested `provenance` struct rides beside them);
# train and eval read the dataset by these names, so they are a contract.
DATASET_COLUMNS = ("id", "instruction", "input", "output", "doc_id", "stratum", "template", "schema_name")


class BuildPaths:
    """`dsforge build`: documents → items → records, with its completion cache and report."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = root / ".lock"
        self.cache = root / "cache" / "completions.sqlite"
        self.files = root / "files.jsonl"
        self.documents = root / "documents.jsonl"
        self.extractions = root / "extractions.jsonl"
        self.visualization = root / "visualization.html"
        self.items = root / "items.jsonl"
        self.rejects = root / "rejects.jsonl"
        self.records = root / "records.jsonl"
        self.dataset = root / "records_dataset"
        self.report_json = root / "report.json"
        self.report_md = root / "report.md"
        self.ray = root / "ray"
        self.extraction_eval = root / "extraction_eval"
        self.judge = root / "judge"
        self.judge_verdicts = self.judge / "verdicts.jsonl"
        self.judge_dropped = self.judge / "dropped.jsonl"
        self.synthetic_rejects = root / "synthetic" / "rejects.jsonl"
        self.kg = root / "kg"
        self.kg_triples = self.kg / "triples.jsonl"
        self.kg_rejects = self.kg / "rejects.jsonl"
        self.kg_turtle = self.kg / "graph.ttl"
        self.kg_jsonld = self.kg / "graph.jsonld"


class ExtractionEvalPaths:
    """`dsforge eval-extraction`'s report, in `<output>/extraction_eval/` or a folder the user names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.json = root / "report.json"
        self.md = root / "report.md"
        self.plot = root / "per_value.png"


class ReviewPaths:
    """The review stage: what was pushed, what reviewers decided, and the approved records."""

    def __init__(self, output: Path) -> None:
        self.root = output / "review"
        self.reviewed = self.root / "reviewed.jsonl"
        self.reviewed_items = self.root / "reviewed_items.jsonl"
        self.added_items = self.root / "added_items.jsonl"
        self.approved = self.root / "approved.jsonl"
        self.report_json = self.root / "review_report.json"
        self.report_md = self.root / "review_report.md"
        self.push_state = self.root / "push.json"
        self.vector_cache = self.root / "cache" / "vectors.sqlite"


class SplitPaths:
    """`dsforge split`: approved records in, one file per split and a manifest out."""

    def __init__(self, output: Path) -> None:
        self.approved = ReviewPaths(output).approved
        self.root = output / "splits"
        self.manifest = self.root / "manifest.json"

    def split_file(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"


PREFERENCE_FOLDER = "preference"  # export/preference/<split>.jsonl: the pairs review's corrections make


class ExportPaths:
    """`dsforge export`: the DatasetDict, one folder per format, the card and lineage."""

    def __init__(self, output: Path) -> None:
        self.root = output / "export"
        self.dataset = self.root / "dataset"
        self.card = self.root / "README.md"
        self.lineage = self.root / "lineage.json"

    def file(self, fmt: str, split: str, suffix: str = "jsonl") -> Path:
        return self.root / fmt / f"{split}.{suffix}"


class EvalPaths:
    """One evaluation's folder: `<output>/eval/`, or `eval-<model>/` for another tuned model."""

    def __init__(self, folder: Path) -> None:
        self.root = folder
        self.metrics = folder / "metrics.json"
        self.predictions = folder / "predictions.jsonl"
        self.report = folder / "report.md"
        self.metrics_png = folder / "metrics.png"
        self.strata_png = folder / "strata.png"
        self.loss_png = folder / "loss.png"
        self.cache = folder / "cache"

    def human(self, dataset: str) -> HumanEvalPaths:
        return HumanEvalPaths(self.root / "human" / dataset)


class HumanEvalPaths:
    """The blind pairwise comparison of one evaluation in one Argilla dataset."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blinding = root / "blinding.json"
        self.push_state = root / "push.json"
        self.votes = root / "votes.jsonl"
        self.result = root / "result.json"
        self.preference = root / "preference.jsonl"  # decided prompts as held-out preference pairs


ADAPTER_FOLDER = "adapter"
RUN_CARD_JSON = "run.json"


def run_card_beside(model_folder: Path) -> Path:
    """The run card of an adapter or merged folder `dsforge train` wrote: one level up, in `train/`."""
    return model_folder.parent / RUN_CARD_JSON


class TrainPaths:
    """What train and eval read (the export) and write (adapter, run card, evaluation)."""

    def __init__(self, output: Path, eval_name: str = "eval", objective: str = "sft") -> None:
        export = ExportPaths(output)
        self.output = output
        self.export = export.root
        self.dataset = export.dataset
        self.lineage = export.lineage
        self.preference = {name: export.file(PREFERENCE_FOLDER, name) for name in SPLITS}
        # an SFT run trains into train/; a preference run beside it, starting from train/'s adapter
        self.root = output / ("train" if objective == "sft" else f"train-{objective}")
        self.adapter = self.root / ADAPTER_FOLDER
        self.merged = self.root / "merged"
        self.checkpoints = self.root / "checkpoints"
        self.run_json = self.root / RUN_CARD_JSON
        self.run_card = self.root / "RUN_CARD.md"
        self.loss_png = self.root / "loss.png"
        self.tracking = self.root / "tracking"  # TensorBoard / MLflow / W&B files when train.report_to names them
        self.evaluation = EvalPaths(output / eval_name)
        self.eval = self.evaluation.root
        self.metrics = self.evaluation.metrics
        self.predictions = self.evaluation.predictions
        self.report = self.evaluation.report

    def with_eval(self, name: str) -> TrainPaths:
        """The same run, its evaluation written to `<output>/<name>/` (another tuned model's)."""
        return TrainPaths(self.output, eval_name=name)


class CrossValidationPaths:
    """`dsforge eval --cv K`: each fold's build beside the summary."""

    def __init__(self, output: Path, k: int) -> None:
        self.root = output / "cv" / f"k{k}"
        self.summary = self.root / "cv.json"
        self.report = self.root / "report.md"

    def fold(self, index: int) -> Path:
        return self.root / f"fold-{index}"


@dataclass(frozen=True)
class ProjectLayout:
    """Every stage's folder under one output folder, in data-flow order."""

    output: Path

    @property
    def build(self) -> BuildPaths:
        return BuildPaths(self.output)

    @property
    def review(self) -> ReviewPaths:
        return ReviewPaths(self.output)

    @property
    def splits(self) -> SplitPaths:
        return SplitPaths(self.output)

    @property
    def export(self) -> ExportPaths:
        return ExportPaths(self.output)

    @property
    def train(self) -> TrainPaths:
        return TrainPaths(self.output)

    def cross_validation(self, k: int) -> CrossValidationPaths:
        return CrossValidationPaths(self.output, k)
