"""QLoRA fine-tuning and base-vs-tuned evaluation."""
