"""A release is trainable as it is: it loads with `datasets.load_dataset("parquet")` and TRL's
SFTTrainer runs two optimisation steps on it with the bundled SmolLM2-135M weights on CPU."""

import math

import pytest

from schemas.publish import PublishSettings
from tasks.publish.stage import run_publish
from tests.tasks.test_publish import build_warehouse
from warehouse.releases import version_dir


@pytest.mark.slow
def test_sft_trainer_runs_two_steps_on_a_release(lake, tmp_path):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from tasks.llm.local_model import ensure_local_model

    build_warehouse(lake)
    run_publish(lake, "mix", PublishSettings(max_seq_len=512), run_id="publish-test")
    data_dir = version_dir(lake.home, "mix", 1) / "data"
    train = datasets.load_dataset("parquet", data_dir=str(data_dir), cache_dir=str(tmp_path / "hf"))["train"]
    assert train.num_rows == 20 and train[0]["messages"][-1]["role"] == "assistant"

    torch.manual_seed(0)
    model_dir = ensure_local_model()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=2, per_device_train_batch_size=2,
                       gradient_accumulation_steps=1, learning_rate=1e-5, logging_steps=1, save_strategy="no",
                       report_to=[], use_cpu=True, bf16=False, fp16=False, max_length=512,
                       dataloader_num_workers=0, seed=0)
    trainer = SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 2
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses)
