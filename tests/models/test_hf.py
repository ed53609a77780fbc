"""Hugging Face causal LMs from a save_pretrained folder: a tiny random GPT-2 made here, nothing
downloaded; skipped without the `hf` extra."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

transformers = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from cli.main import cli  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402


@pytest.fixture
def gpt2_folder(tmp_path):
    config = transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2,
                                     n_head=2)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    folder = tmp_path / "gpt2"
    model.save_pretrained(folder, safe_serialization=True)
    return folder, model


def test_folder_loads_as_a_checkpoint_with_the_same_logits(gpt2_folder):
    folder, model = gpt2_folder
    net, meta = load_checkpoint(folder)
    assert meta["arch"] == "transformers:gpt2" and meta["format"] == "transformers"
    x = torch.randint(0, 64, (2, 10))
    torch.testing.assert_close(net(x), model(input_ids=x).logits)
    names = [k for k, _ in net.named_parameters()]
    assert "model.transformer.wte.weight" in names and "model.lm_head.weight" not in names


def test_surface_hessian_of_a_pretrained_folder(gpt2_folder, tmp_path):
    folder, _ = gpt2_folder
    runner = CliRunner()
    out = tmp_path / "s.h5"
    r = runner.invoke(cli, ["surface", str(folder), "-o", str(out), "--dataset", "tokens",
                            "--samples", "16", "--block-size", "16", "--x", "-1:1:3",
                            "--norm", "head", "--no-progress"])
    assert r.exit_code == 0, r.output
    with h5py.File(out) as f:
        loss = f["train_loss"][()]
        assert np.isfinite(loss).all() and loss.shape == (3,)
        # GPT-2's Conv1D attention weight (in=32, out=96) normalized by heads of 16 columns
        d = f["directions/x/model.transformer.h.0.attn.c_attn.weight"][()]
    assert d.shape == (32, 96)
    theta = load_checkpoint(folder)[0].model.transformer.h[0].attn.c_attn.weight.detach()
    blocks = [(d[:, i:i + 16], theta[:, i:i + 16]) for i in range(0, 96, 16)]  # 2 heads x q,k,v
    for block, ref in blocks:
        assert np.linalg.norm(block) == pytest.approx(float(ref.norm()), rel=1e-5)
    columns = np.linalg.norm(d, axis=0)
    assert not np.allclose(columns, theta.norm(dim=0).numpy(), rtol=1e-3)  # not per column
    r = runner.invoke(cli, ["hessian", str(folder), "--dataset", "tokens", "--samples", "8",
                            "--block-size", "8", "--k", "1", "--iters", "4",
                            "--trace-samples", "1", "-o", str(tmp_path / "h"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "h" / "hessian.json").read_text())["top_eigenvalues"][0] > 0


def test_pickled_weights_and_remote_code_are_refused(gpt2_folder):
    folder, model = gpt2_folder
    for f in folder.glob("*.safetensors"):
        f.unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match="only safetensors"):
        load_checkpoint(folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.Evil"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_checkpoint(folder)


def test_a_plain_folder_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="save_pretrained"):
        load_checkpoint(tmp_path)


def test_llama_heads_by_head_dim_with_grouped_keys():
    """Llama's attention states only head_dim; its k/v projections have fewer heads than q."""
    from landscape.engine.directions import parameter_units
    from landscape.engine.params import get_params

    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=1, num_attention_heads=4,
                                      num_key_value_heads=2)
    model = transformers.LlamaForCausalLM(config)
    units = parameter_units(model, get_params(model), per_head=True)
    attn = "model.layers.0.self_attn"
    assert units[f"{attn}.q_proj.weight"] == (0, 8) and units[f"{attn}.k_proj.weight"] == (0, 8)
    assert units[f"{attn}.o_proj.weight"] == (1, 8)
    assert get_params(model)[f"{attn}.k_proj.weight"].shape[0] // 8 == 2   # two key heads
