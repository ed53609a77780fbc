"""Hugging Face causal language models as checkpoints: a folder written by `save_pretrained`.

Needs the optional extra `pip install .[hf]` (transformers and safetensors). Only weights in
safetensors files are read (a pickled `pytorch_model.bin` could run code and is refused), never
with `trust_remote_code`: the architecture must be one that transformers itself implements
(its `model_type` in config.json picks a class inside transformers, never code from the folder
or the network), and nothing is downloaded (`local_files_only`).

The model is wrapped so that it maps token ids (B, T) to logits (B, T, vocab), as gpt-mini
does; its parameter names gain the prefix `model.`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["CausalLM", "is_pretrained_folder", "load_pretrained"]

HF_PREFIX = "transformers:"


class CausalLM(nn.Module):
    """A transformers causal LM seen as logits = f(token ids), without its cache."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.skip = True

    def forward(self, idx: Tensor) -> Tensor:
        return self.model(input_ids=idx, use_cache=False).logits


def is_pretrained_folder(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a folder with a config.json (what `save_pretrained` writes)."""
    return Path(path).is_dir() and (Path(path) / "config.json").is_file()


def load_pretrained(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The causal LM saved in folder `path`, in float32 and eval mode, with its metadata.

    Raises:
        ValueError: transformers is not installed (the message says how to add it), the folder
            holds no safetensors weights, or its config asks for code of its own.
    """
    folder = Path(path)
    config_path = folder / "config.json"
    try:
        config_record = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{str(config_path)!r} is not a readable JSON config: {err}") from err
    if not isinstance(config_record, dict):
        raise ValueError(f"{str(config_path)!r} does not hold a config (a JSON object)")
    if config_record.get("auto_map"):
        raise ValueError(f"{str(folder)!r} asks for model code of its own (auto_map in "
                         f"config.json); only architectures that transformers implements are "
                         f"loaded here, never with trust_remote_code")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"{str(folder)!r} holds no *.safetensors weights; only safetensors are "
                         f"read (a pickled pytorch_model.bin could run code). Save the model "
                         f"with save_pretrained(..., safe_serialization=True)")
    try:
        import safetensors  # noqa: F401 - the weights' format, checked before transformers
        import transformers
    except ImportError as err:
        raise ValueError(f"loading the Hugging Face model in {str(folder)!r} needs the optional "
                         f"extra: pip install '.[hf]' (transformers and safetensors); {err}"
                         ) from None
    model = transformers.AutoModelForCausalLM.from_pretrained(
        str(folder), use_safetensors=True, trust_remote_code=False, local_files_only=True)
    net = CausalLM(model).to(torch.float32).eval()
    kind = str(config_record.get("model_type") or type(model).__name__)
    from .checkpoint import state_dict_sha256

    meta = {"arch": f"{HF_PREFIX}{kind}", "arch_kwargs": {}, "skip": True,
            "sha256": state_dict_sha256(net.state_dict()), "path": str(folder.resolve()),
            "format": "transformers", "dataset": None, "epoch": None, "history": None,
            "block_size": config_record.get("n_positions")
            or config_record.get("max_position_embeddings")}
    return net, meta
