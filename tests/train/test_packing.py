"""Padding-free packing is exact: records in a pack never see each other.

The batch comes from the real path (trl's SFTTrainer built with dsforge's
`sft_config`, `packing: on`), over real license records and the SmolLM2
tokenizer; the model is a tiny random-init Qwen2 in float32 so that the
comparisons are tight and the test runs in seconds. On CPU the model uses
SDPA, which turns the restarting `position_ids` into a block-diagonal mask
(the CUDA varlen path is checked by bench/qlora_gpu.py --check-packing).
"""

from __future__ import annotations

import pytest
import torch

from core.config import load_config
from core.layout import TrainPaths
from core.options.train import TrainOptions
from tests.train.train_projects import write_project
from train.data import conversational, load_splits
from train.loading import Hardware, load_tokenizer
from train.packing import attention_implementation, use_packing
from train.trainer_setup import sft_config

CPU = Hardware("cpu", torch.float32, "cpu")
# float32 on CPU: the packed and the lone forward run different SDPA kernels (masked vs causal),
# so they agree to rounding, not bit for bit.
LOGITS_ATOL = 1e-4
LOSS_RTOL = 1e-5


@pytest.fixture(scope="module")
def packed(tmp_path_factory, license_records, repo_root, smollm_base):
    from transformers import AutoModelForCausalLM, Qwen2Config
    from trl import SFTTrainer

    folder = tmp_path_factory.mktemp("packing")
    config = load_config(write_project(folder, license_records, repo_root, train={"base_model": "smollm2-135m"}))
    data = load_splits(TrainPaths(config.output_dir).dataset)
    tokenizer = load_tokenizer(smollm_base.path)
    torch.manual_seed(0)
    model_config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                               max_position_embeddings=1024, use_cache=False)  # fmt: skip
    model = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32, attn_implementation="sdpa")
    model.eval()
    opts = TrainOptions(packing="on", max_seq_len=512, batch_size=2, min_train_examples=0)
    trainer = SFTTrainer(
        model=model,
        args=sft_config(opts, CPU, folder / "ckpt", show_progress=False, liger_kernels=False),
        train_dataset=conversational(data["train"]),
        eval_dataset=conversational(data["validation"]),
        processing_class=tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    return trainer, model, batch


def _documents(batch) -> list[tuple[int, int]]:
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    ends = starts[1:] + [batch["input_ids"].shape[1]]
    return list(zip(starts, ends))


def test_the_batch_is_padding_free_and_holds_several_records(packed):
    _, _, batch = packed
    assert batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch
    documents = _documents(batch)
    assert len(documents) >= 3  # a real pack, not one record
    assert batch["cu_seq_lens_q"].tolist() == [s for s, _ in documents] + [documents[-1][1]]
    for start, end in documents:  # positions restart at every record
        assert batch["position_ids"][0, start:end].tolist() == list(range(end - start))
    assert (batch["input_ids"] != -1).all()


def test_a_record_in_a_pack_has_the_logits_it_has_alone(packed):
    _, model, batch = packed
    with torch.no_grad():
        together = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        for start, end in _documents(batch):
            alone = model(input_ids=batch["input_ids"][:, start:end]).logits[0]
            torch.testing.assert_close(together[start:end], alone, atol=LOGITS_ATOL, rtol=0)


def test_packed_loss_is_the_token_weighted_mean_of_the_records_alone(packed):
    """trl's loss is Σ token NLL ÷ answer tokens over the batch, packed or not; so is the reference here.

    Each record alone: its mean NLL over its own answer tokens (the label at a record's first
    position is ignored in the pack, and has no predecessor alone) times its answer-token count.
    """
    trainer, model, batch = packed
    with torch.no_grad():
        packed_loss = trainer.compute_loss(model, dict(batch)).item()
        total, tokens, per_record = 0.0, 0, []
        for start, end in _documents(batch):
            labels = batch["labels"][:, start:end]
            n = int((labels[0, 1:] != -100).sum())
            if n == 0:
                continue
            loss = model(input_ids=batch["input_ids"][:, start:end], labels=labels).loss.item()
            per_record.append(loss)
            total += loss * n
            tokens += n
    assert len(per_record) >= 3
    assert packed_loss == pytest.approx(total / tokens, rel=LOSS_RTOL)
    # Labels are answer tokens only, and none of them is the first token of a record.
    starts = [s for s, _ in _documents(batch)]
    assert (batch["labels"][0, starts] == -100).all()


def test_auto_packs_on_every_device_and_cpu_keeps_sdpa():
    assert use_packing("auto") is True and use_packing("on") is True and use_packing("off") is False
    assert attention_implementation(True, CPU).implementation == "sdpa"
    assert TrainOptions(packing=True).packing == "on" and TrainOptions(packing=False).packing == "off"


def test_auto_batch_and_checkpointing_keep_the_cpu_defaults():
    from train.fit import CPU_BATCH_SIZE, fit_batch, packed_row_estimate

    fit = fit_batch(TrainOptions(), CPU, model=None, packed_rows=None)
    assert (fit.batch_size, fit.gradient_checkpointing) == (CPU_BATCH_SIZE, True)
    explicit = fit_batch(TrainOptions(batch_size=3, gradient_checkpointing=False), CPU, None, None)
    assert (explicit.batch_size, explicit.gradient_checkpointing, explicit.how) == (3, False, "as configured")
    assert packed_row_estimate([100, 200, 2000], max_seq_len=1024) == 2  # 100 + 200 + 1024 (cut) tokens


def test_a_cpu_batch_of_packed_rows_is_capped_so_a_small_set_gets_its_steps():
    from train.fit import CPU_BATCH_SIZE, MIN_STEPS_PER_EPOCH, fit_batch

    opts = TrainOptions()  # gradient_accumulation_steps 4
    small = fit_batch(opts, CPU, model=None, packed_rows=23)  # the sample records: 23 rows of 1024
    assert small.batch_size == 1 and "capped at 1 for 23 packed rows" in small.how
    big = fit_batch(opts, CPU, model=None, packed_rows=4 * 4 * MIN_STEPS_PER_EPOCH * 10)
    assert big.batch_size == CPU_BATCH_SIZE and big.gradient_checkpointing
