"""Moving models between Lantern and other toolkits (Hugging Face `transformers` directories)."""

from .hf import export_hf, import_hf

__all__ = ["export_hf", "import_hf"]
