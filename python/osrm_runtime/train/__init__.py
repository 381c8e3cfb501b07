"""LoRA fine-tuning of one task (the `train` op): payload parsing (config), the LoRA model and its
init (lora), data checks (inputs), the loop (recipe), checkpoints (checkpoint), DDP (distributed)."""
