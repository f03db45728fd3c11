"""Secrets planted in the environment reach no artifact, log, printed line or error of any stage.

One pass over every stage with the provider key, the Argilla owner key and the
owner and annotator passwords set: build (recorded model), a real review server
(serve, push, reviewers answer, pull), split, export, a tiny CPU training run
and its evaluation; then failures provoked with the secrets still set.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from annotate import dataset_settings as ds
from annotate.push import push
from annotate.server import credentials, supervisor
from builder.model_store import is_installed
from core import atomic
from core.config import load_config
from core.errors import DsforgeError
from core.options.review import ReviewOptions
from dsforge.cli import app
from tests.annotate.argilla_helpers import submit
from tests.annotate.review_server import free_port
from tests.builder.replay_project import make_project
from tests.faults import LogLines
from tests.train.train_projects import TINY_TRAIN, one_cpu_thread

pytestmark = pytest.mark.skipif(
    not is_installed("smollm2-135m"), reason="run `dsforge models fetch smollm2-135m`"
)

SECRETS = {
    "DSFORGE_TEST_PROVIDER_KEY": "sk-planted-provider-7f3a9c1e5b2d",
    "ARGILLA_API_KEY": "argilla-planted-owner-key-4e8b1d07",
    "DSFORGE_ARGILLA_OWNER_PASSWORD": "planted-owner-password-93c6a2",
    "DSFORGE_ARGILLA_PASSWORD_ANNOTATOR1": "planted-annotator1-password-5d0f",
    "DSFORGE_ARGILLA_PASSWORD_ANNOTATOR2": "planted-annotator2-password-b71e",
    "DSFORGE_TEST_OTHER_ARGILLA_KEY": "argilla-planted-unknown-key-0a9c",  # a key the server refuses
}
# The server's own user table must hold the owner key to check it; it is the server's, not an artifact.
SERVER_DATABASE = "argilla.db"


def test_planted_secrets_reach_no_artifact_log_output_or_error(tmp_path_factory, capfd):
    root, home = tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("argilla-home")
    config_path = _configure(make_project(root), home)
    printed: list[str] = []
    errors: list[str] = []
    logs, level = LogLines(), logging.getLogger().level
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.DEBUG)

    def cli(*args: str, exit_code: int = 0) -> None:
        result = CliRunner().invoke(app, [*args, "-c", str(config_path)], env={"COLUMNS": "400"})
        printed.append(result.output)
        assert result.exit_code == exit_code, result.output

    try:
        with pytest.MonkeyPatch.context() as env, one_cpu_thread():
            for name, value in SECRETS.items():
                env.setenv(name, value)
            cli("build", "--no-progress")
            cli("review", "serve")
            try:
                cli("review", "push", "--no-progress")
                _annotator_accepts_everything(load_config(config_path), home)
                cli("review", "pull")
                cli("split")
                cli("export")
                cli("train", "--no-progress")
                cli("eval", "--no-progress")
                errors += _provoked_failures(config_path)
            finally:
                cli("review", "stop")
    finally:
        logging.getLogger().removeHandler(logs)
        logging.getLogger().setLevel(level)

    out, err = capfd.readouterr()
    assert (root / "build" / "eval" / "report.md").is_file()  # every stage ran
    assert len(errors) == 4
    written = [
        p for p in [*root.rglob("*"), *home.rglob("*")] if p.is_file() and SERVER_DATABASE not in p.name
    ]
    assert any(p.parent.name == "logs" for p in written) and any("checkpoint" in str(p) for p in written)
    leaks = [
        f"{where}: {name}"
        for name, value in SECRETS.items()
        for where, content in [
            *((str(p), p.read_bytes().decode("latin-1")) for p in written),
            ("printed by the CLI", "\n".join(printed)),
            ("stdout/stderr", out + err),
            ("logging", "\n".join(logs.lines)),
            ("error messages", "\n".join(errors)),
        ]
        if value in content
    ]
    assert not leaks, leaks


def _configure(config_path: Path, home: Path) -> Path:
    data = yaml.safe_load(config_path.read_text("utf-8"))
    data["provider"]["api_key_env"] = "DSFORGE_TEST_PROVIDER_KEY"
    data["review"] = {
        "server": {"home": str(home), "port": free_port()},
        "dataset": "secrets",
        "vectors": False,
        "min_submitted": 1,
        "retries": 0,
    }
    data["train"] = {**TINY_TRAIN, "max_seq_len": 128, "min_train_examples": 0}
    (config_path.parent / "probe.txt").write_text(
        "The licence allows copying and changing the software.\n", "utf-8"
    )
    data["eval"] = {
        "max_examples": 1,
        "max_new_tokens": 4,
        "batch_size": 1,
        "probe_file": "probe.txt",
        "probe_window": 16,
        "examples_shown": 1,
    }
    config_path.write_text(yaml.safe_dump(data), "utf-8")
    return config_path


def _annotator_accepts_everything(config, home: Path) -> None:
    """annotator1, who logs in with the planted password, accepts every item through the API."""
    url = supervisor.read_state(home).url
    login = {"username": "annotator1", "password": SECRETS["DSFORGE_ARGILLA_PASSWORD_ANNOTATOR1"]}
    assert httpx.post(f"{url}/api/v1/token", data=login).status_code == 201
    annotator = next(u for u in credentials.resolve(config.review, home) if u.username == "annotator1")
    ids = [row["id"] for row in atomic.read_jsonl(config.output_dir / "items.jsonl")]
    submit(
        url,
        SECRETS["ARGILLA_API_KEY"],
        annotator.api_key,
        "secrets",
        config.review.workspace,
        {item_id: {ds.DECISION: ds.ACCEPT} for item_id in ids},
    )


def _provoked_failures(config_path: Path) -> list[str]:
    """Fail on purpose with every secret set; return the messages users would read."""
    config = load_config(config_path)
    messages = []
    url = f"http://127.0.0.1:{config.review.server.port}"
    for review in (
        ReviewOptions(
            **{**config.review.model_dump(), "api_url": url, "api_key_env": "DSFORGE_TEST_OTHER_ARGILLA_KEY"}
        ),
        ReviewOptions(**{**config.review.model_dump(), "api_url": f"http://127.0.0.1:{free_port()}"}),
    ):
        with pytest.raises(DsforgeError) as raised:
            push(config.model_copy(update={"review": review}), show_progress=False)
        messages.append(str(raised.value))
    # A key pasted into the config by mistake is refused without being echoed back.
    broken = config_path.with_name("broken.yaml")
    data = yaml.safe_load(config_path.read_text("utf-8"))
    data["provider"]["params"]["api_key"] = SECRETS["DSFORGE_TEST_PROVIDER_KEY"]
    broken.write_text(yaml.safe_dump(data), "utf-8")
    with pytest.raises(DsforgeError) as raised:
        load_config(broken)
    messages.append(str(raised.value))
    broken.unlink()
    # The CLI's own error path, with the key the server refuses.
    data = yaml.safe_load(config_path.read_text("utf-8"))
    data["review"] |= {"api_url": url, "api_key_env": "DSFORGE_TEST_OTHER_ARGILLA_KEY"}
    refused = config_path.with_name("refused.yaml")
    refused.write_text(yaml.safe_dump(data), "utf-8")
    result = CliRunner().invoke(app, ["review", "pull", "-c", str(refused)], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and "DSFORGE_TEST_OTHER_ARGILLA_KEY" in result.output
    messages.append(result.output)
    return messages
