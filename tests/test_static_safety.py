"""What the product code must never do, read from its source: run model code or unpickle files."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "dsforge", "builder", "annotate", "train", "schemas")
PICKLERS = {"pickle", "_pickle", "cPickle", "dill", "joblib", "cloudpickle", "shelve", "marshal"}


def product_modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield str(path.relative_to(REPO)), ast.parse(path.read_text("utf-8"), filename=str(path))


def _is_false(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_the_scan_sees_the_loaders():
    calls = [
        _dotted(node.func)
        for _, tree in product_modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _dotted(node.func).endswith(".from_pretrained")
    ]
    assert {"AutoTokenizer.from_pretrained", "AutoModelForCausalLM.from_pretrained"} <= set(calls)


def test_remote_code_is_never_trusted():
    problems = []
    for name, tree in product_modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "trust_remote_code"
                and not _is_false(node.value)
            ):
                problems.append(f"{name}:{node.value.lineno} trust_remote_code={ast.unparse(node.value)}")
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "trust_remote_code"
                        and not _is_false(value)
                    ):
                        problems.append(f"{name}:{key.lineno} 'trust_remote_code': {ast.unparse(value)}")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "TRUST_REMOTE_CODE" in node.value
            ):
                problems.append(f"{name}:{node.lineno} sets {node.value}")
            # Transformers' Auto* loaders must say False: left unset, they ask on a terminal.
            if (
                isinstance(node, ast.Call)
                and _dotted(node.func).startswith("Auto")
                and _dotted(node.func).endswith(".from_pretrained")
                and not _is_false(_keyword(node, "trust_remote_code") or ast.Constant(None))
                and not any(k.arg is None for k in node.keywords)  # **kwargs: checked as a dict above
            ):
                problems.append(f"{name}:{node.lineno} {_dotted(node.func)} without trust_remote_code=False")
    assert not problems, problems


def test_no_file_is_unpickled():
    problems = []
    for name, tree in product_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                problems += [
                    f"{name}:{node.lineno} import {a.name}"
                    for a in node.names
                    if a.name.split(".")[0] in PICKLERS
                ]
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PICKLERS:
                problems.append(f"{name}:{node.lineno} from {node.module} import")
            if not isinstance(node, ast.Call):
                continue
            func = _dotted(node.func)
            weights_only = _keyword(node, "weights_only")
            if func.endswith("torch.load") and not (
                isinstance(weights_only, ast.Constant) and weights_only.value is True
            ):
                problems.append(f"{name}:{node.lineno} torch.load without weights_only=True")
            allow_pickle = _keyword(node, "allow_pickle")
            if func in {"np.load", "numpy.load"} and allow_pickle is not None and not _is_false(allow_pickle):
                problems.append(f"{name}:{node.lineno} {func}(allow_pickle=...)")
            if func.endswith(("read_pickle", "from_pickle")):
                problems.append(f"{name}:{node.lineno} {func}")
    assert not problems, problems
