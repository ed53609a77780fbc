"""benchmarks/gpu_check.py runs end to end (on a CPU with --quick) and reports what it promises."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # the whole benchmark script in a subprocess: about 10 s on 2 cores
def test_gpu_check_quick_on_a_cpu_prints_one_json(tmp_path):
    out = tmp_path / "r" / "check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu",
                          "--quick", "--json", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    printed = json.loads(run.stdout)  # stdout is the JSON and nothing else
    assert printed == json.loads(out.read_text())
    eq = printed["equality"]
    assert eq["fp32_within_1e-5"] and eq["fp32_vs_cpu_fp32_max_rel"] <= 1e-5
    assert 0 < eq["bf16_vs_cpu_fp32_max_rel"] < 3e-2
    assert not printed["skipped"]
    for precision in ("fp32", "tf32", "bf16"):
        row = printed["summary"][precision]
        engine = printed["engine"][row["best"]]
        assert row["images_per_s"] == engine["images_per_s"] > 0 and engine["peak_memory_gb"] > 0
        assert 0.2 < row["fraction_of_limit"] < 5  # engine over a fixed-weight forward
        want = 51 * 51 * 50_000 / row["images_per_s"] / 60
        assert row["projected_51x51_50k_min"] == pytest.approx(want)
        assert row["meets_target"] == (row["projected_51x51_50k_min"] <= row["target_min"])


@pytest.mark.slow  # the script in a subprocess: its imports and the equality check, about 4 s
def test_a_short_budget_skips_what_it_cannot_fit_and_says_so(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cpu",
                          "--quick", "--budget", "0"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    printed = json.loads(run.stdout)
    assert printed["engine"] == {} and printed["limit"] == {}
    assert "engine fp32, eager, batch 128, K 1" in printed["skipped"]
    assert printed["equality"]["fp32_within_1e-5"]  # the equality check always runs


def test_the_shell_script_runs_the_check_on_cuda_within_eight_minutes():
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")],
                          check=False).returncode == 0
    assert "timeout 470 python benchmarks/gpu_check.py --device cuda" in script
    assert "benchmarks/results/$(date -u +%F)-${gpu}" in script


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_check_on_the_gpu_meets_the_equality_target(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--device", "cuda",
                          "--quick"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["equality"]["fp32_within_1e-5"]
