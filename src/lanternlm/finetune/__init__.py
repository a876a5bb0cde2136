"""Adapting a pretrained model to a task: heads, LoRA, soft prompts, chat fine-tuning and preference tuning (all trained through the one trainer), and
prompt design with no training at all (few-shot scoring). See docs/finetuning.md."""

from .adapters import adapter_tensors, describe_adapter, load_adapter, read_adapter, save_adapter
from .run import FinetuneResult, chat_config, classify_config, dpo_config, export, finetune, lm_config, merge_adapter

__all__ = ["adapter_tensors", "describe_adapter", "load_adapter", "read_adapter", "save_adapter", "FinetuneResult",
           "chat_config", "classify_config", "dpo_config", "export", "finetune", "lm_config", "merge_adapter"]
