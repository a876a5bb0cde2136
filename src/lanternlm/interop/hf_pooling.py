"""sentence-transformers' recipe for a sentence vector, as files beside a Hugging Face model.

A sentence-transformers directory is a transformers model plus `modules.json`, the pipeline run after it:
Transformer (the model's hidden states) -> Pooling (its `1_Pooling/config.json` names the mode: the [CLS]
position or the mean over real tokens) -> Normalize (optional: divide by the L2 norm). Lantern keeps the two
choices as `ModelConfig.pooling` and `normalize_embeddings`; any other module (Dense, ...) is refused rather
than silently skipped, since the vectors would differ. `sentence_bert_config.json` holds `max_seq_length`, the
length texts are cut to before embedding (256 for all-MiniLM-L6-v2, which was trained on short texts though its
positions go to 512): `ModelConfig.max_seq_length`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import ModelConfig
from ..errors import LanternError
from ..io import read_json, write_json_atomic

MODULE = "sentence_transformers.models."
POOLING_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean"}


def read_max_length(directory: Path) -> dict[str, Any]:
    """{"max_seq_length": n} from sentence_bert_config.json, when the directory has one."""
    path = directory / "sentence_bert_config.json"
    if not path.is_file():
        return {}
    settings = read_json(path)
    length = settings.get("max_seq_length") if isinstance(settings, dict) else None
    if type(length) is not int or length <= 0:
        raise LanternError(f"{path}: max_seq_length must be a positive integer, got {length!r}")
    return {"max_seq_length": length}


def read_pooling(directory: Path) -> dict[str, Any]:
    """{"pooling": "mean" | "cls", "normalize_embeddings": bool, "max_seq_length": n} from the directory's
    sentence-transformers files; {} for a plain transformers directory (none of them)."""
    return {**read_pooling_modules(directory), **read_max_length(directory)}


def read_pooling_modules(directory: Path) -> dict[str, Any]:
    pooling_dir, normalize = directory / "1_Pooling", False
    if (directory / "modules.json").is_file():
        modules = read_json(directory / "modules.json")
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise LanternError(f"{directory / 'modules.json'}: not a list of sentence-transformers modules")
        kinds = {str(m.get("type", "")).removeprefix(MODULE): m for m in modules}
        other = sorted(set(kinds) - {"Transformer", "Pooling", "Normalize"})
        if other:
            raise LanternError(f"{directory / 'modules.json'}: sentence-transformers module {other[0]!r} is not "
                               "supported (Lantern pools and normalises, nothing else)")
        if "Pooling" in kinds:
            pooling_dir = directory / kinds["Pooling"].get("path", "1_Pooling")
        normalize = "Normalize" in kinds
    if not (pooling_dir / "config.json").is_file():
        return {"normalize_embeddings": True} if normalize else {}
    settings = read_json(pooling_dir / "config.json")
    modes = [key for key, value in settings.items() if key.startswith("pooling_mode_") and value is True]
    if len(modes) != 1 or modes[0] not in POOLING_MODES:
        raise LanternError(f"{pooling_dir / 'config.json'}: pooling {', '.join(modes) or 'none'} is not supported "
                           "(Lantern pools by the [CLS] token or the mean)")
    return {"pooling": POOLING_MODES[modes[0]], "normalize_embeddings": normalize}


def write_pooling(c: ModelConfig, directory: Path) -> None:
    """modules.json and 1_Pooling/config.json (+ 2_Normalize/) for `c.pooling` and `c.normalize_embeddings`, and
    sentence_bert_config.json for `c.max_seq_length`."""
    steps = [("Transformer", ""), ("Pooling", "1_Pooling")]
    if c.normalize_embeddings:
        steps.append(("Normalize", "2_Normalize"))
    modules = [{"idx": i, "name": str(i), "path": path, "type": MODULE + kind} for i, (kind, path) in enumerate(steps)]
    write_json_atomic(directory / "modules.json", modules)
    for _, path in steps[1:]:
        (directory / path).mkdir()
    modes = {key: c.pooling == mode for key, mode in POOLING_MODES.items()}
    write_json_atomic(directory / "1_Pooling" / "config.json", {"word_embedding_dimension": c.n_embd, **modes,
                                                                "pooling_mode_max_tokens": False,
                                                                "pooling_mode_mean_sqrt_len_tokens": False})
    if c.max_seq_length:  # without it sentence-transformers cuts texts at the model's positions, as Lantern does
        write_json_atomic(directory / "sentence_bert_config.json", {"max_seq_length": c.max_seq_length,
                                                                    "do_lower_case": False})
