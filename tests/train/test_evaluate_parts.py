"""Evaluation pieces checked against independent computations, and the CLI's error path."""

from __future__ import annotations

import pytest
import torch
import typer
from typer.testing import CliRunner

from dsforge.train_commands import eval_command, train_command
from train.evaluate import sequence_nll
from train.judge import parse_score
from train.loading import Hardware, load_model, load_tokenizer

CPU = Hardware("cpu", torch.float32, "cpu")


def test_sequence_nll_matches_the_model_loss_with_left_padding(smollm_base):
    model = load_model(smollm_base.path, CPU, load_in_4bit=False, for_training=False).eval()
    tokenizer = load_tokenizer(smollm_base.path)
    long_ids = tokenizer("Permission is hereby granted, free of charge, to any person.")["input_ids"]
    short_ids = tokenizer("The software is provided as is.")["input_ids"]

    def hf_sum(ids: list[int], scored: int) -> float:
        labels = torch.tensor([ids])
        labels[0, : len(ids) - scored] = -100
        with torch.no_grad():
            loss = model(input_ids=torch.tensor([ids]), labels=labels).loss
        return loss.item() * scored

    # A batch of two lengths (the shorter is left-padded) scores each sequence as if alone.
    total, count = sequence_nll(
        model, [(long_ids, 5), (short_ids, len(short_ids) - 1)], 2, tokenizer.pad_token_id
    )
    expected = hf_sum(long_ids, 5) + hf_sum(short_ids, len(short_ids) - 1)
    assert count == 5 + len(short_ids) - 1
    assert total == pytest.approx(expected, rel=1e-4)


def test_judge_reply_parsing():
    assert parse_score('{"score": 4}') == 4.0
    assert parse_score("I would give it 2 out of 5") == 2.0
    assert parse_score("no idea") is None


@pytest.mark.parametrize("command", [train_command, eval_command])
def test_commands_exit_2_with_the_next_step(command, tmp_path, repo_root):
    import shutil

    shutil.copy(repo_root / "samples" / "license_schema.py", tmp_path / "license_schema.py")
    config = tmp_path / "dsforge.yaml"
    config.write_text("schema: license_schema.py:LicenseTerm\ntrain: {base_model: smollm2-135m}\n", "utf-8")
    app = typer.Typer()
    app.command()(command)
    app.command("noop")(lambda: None)  # two commands: typer then expects the name
    result = CliRunner().invoke(app, [command.__name__.replace("_", "-"), "-c", str(config), "--no-progress"])
    assert result.exit_code == 2
    assert "dsforge train" in result.output or "dsforge split" in result.output
