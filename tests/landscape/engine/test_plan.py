"""The fast paths give the plain path's numbers: real low precision, compile, one Evaluator."""

import warnings

import numpy as np
import pytest
import torch

from landscape import Axis, Grid, compute_surface, load_surface
from landscape.engine.directions import create_directions
from landscape.engine.evaluate import Evaluator, evaluate_points, low_precision_supported
from landscape.engine.fold import fuse_convolutions
from landscape.engine.params import get_params
from tests.conftest import make_tiny, make_tiny_data

COORDS = np.array([[0.0, 0.0], [0.4, -0.3], [-0.8, 0.6]])


def _setup(n: int = 40):
    model = make_tiny(dtype=torch.float32)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 3, 8, 8, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    base = {k: t.detach() for k, t in get_params(model).items()}
    dirs, _ = create_directions(base, ndim=2, seed=0)
    return model, base, dirs, (x, y)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_runs_in_that_dtype_close_to_fp32(one_thread, precision):
    model, base, dirs, data = _setup()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp32 = evaluate_points(model, base, dirs, COORDS, data, batch_size=16)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ev = Evaluator(model, base, dirs, batch_size=16, precision=precision)
    if not low_precision_supported(torch.device("cpu"), dtype):
        assert any("emulated" in str(w.message) for w in caught)
    low = ev(COORDS, data)
    # The forward pass really ran in the low dtype: its weights are, and its values moved.
    assert all(t.dtype == dtype for t in ev.cast)
    assert all(t.dtype == torch.float32 for t in ev.theta)
    rel = np.abs(low.loss - fp32.loss) / fp32.loss
    assert 0 < rel.max() < 3e-2, rel
    np.testing.assert_allclose(low.acc, fp32.acc, atol=100 / 40 + 1e-9)  # at most one flip
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]) and v.dtype == before[k].dtype, k


@pytest.mark.slow  # a C++ compile: 2 s with a warm inductor cache, 12 s with a cold one
@pytest.mark.parametrize("k", [1, 2])
def test_compiled_equals_eager_and_reuses_one_graph(one_thread, k):
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    model, base, dirs, data = _setup(n=40)  # batches 16, 16, 8: the last one runs eager
    eager = evaluate_points(model, base, dirs, COORDS, data, batch_size=16)
    ev = Evaluator(model, base, dirs, batch_size=16, compile=True, points_per_batch=k)
    first = ev(COORDS[:1], data)  # with K = 2, a block of one point: eager
    rest = ev(COORDS[1:], data)  # another call, other points: no recompile
    np.testing.assert_allclose(np.r_[first.loss, rest.loss], eager.loss, rtol=1e-5)
    np.testing.assert_allclose(np.r_[first.acc, rest.acc], eager.acc)
    assert ev._compiled is not None
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert frames == 1, f"{frames} graphs compiled for one batch shape"


def test_failed_compile_warns_and_runs_eager(one_thread, monkeypatch):
    model, base, dirs, data = _setup()
    eager = evaluate_points(model, base, dirs, COORDS, data, batch_size=8)

    def broken(fn, **_kw):
        def run(*_a):
            raise RuntimeError("no C++ compiler found\nmore detail")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler"):
        got = evaluate_points(model, base, dirs, COORDS, data, batch_size=8, compile=True)
    np.testing.assert_array_equal(got.loss, eager.loss)


def test_surface_with_one_evaluator_and_bf16_matches_fp32(one_thread, tmp_path):
    model, _, _, data = _setup()
    grid = Grid(Axis(-1, 1, 5), Axis(-1, 1, 3))
    fp32 = compute_surface(model, data, grid, device="cpu", progress=False, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "emulated" on CPUs without bf16
        bf16 = compute_surface(model, data, grid, device="cpu", progress=False, batch_size=16,
                               precision="bf16", path=tmp_path / "s.h5")
    assert bf16.done.all() and bf16.meta["precision"] == "bf16"
    rel = np.abs(bf16.loss - fp32.loss) / fp32.loss
    assert 0 < rel.max() < 3e-2


def test_data_over_the_budget_streams_from_host_with_the_same_surface(one_thread, caplog):
    from landscape.engine.placement import HostBatches, as_data

    model, _, _, (x, y) = _setup(n=40)
    resident = as_data((x, y), torch.device("cpu"), budget=x.numel() * 4)
    assert isinstance(resident, tuple)
    with caplog.at_level("WARNING"):
        streamed = as_data((x, y), torch.device("cpu"), budget=x.numel() * 4 - 1, batch_size=16)
    assert isinstance(streamed, HostBatches) and len(streamed) == 40
    assert "streaming" in caplog.text
    assert [len(b) for b, _ in streamed] == [16, 16, 8] == [len(b) for b, _ in streamed]
    grid = Grid(Axis(-1, 1, 3), Axis(-1, 1, 3))
    want = compute_surface(model, (x, y), grid, device="cpu", progress=False, batch_size=16)
    got = compute_surface(model, streamed, grid, device="cpu", progress=False, batch_size=16)
    np.testing.assert_allclose(got.loss, want.loss, rtol=1e-6)
    np.testing.assert_allclose(got.accuracy, want.accuracy)


def test_cuda_plan_fills_a_pass_from_free_memory():
    from landscape.engine.evaluate import plan_batches

    gb, kb, mb = 2**30, 2**10, 2**20
    # ResNet-56 on a big GPU: the data fills a pass from one point
    assert plan_batches(80 * gb, 100 * kb, 4 * mb, samples=50_000) == (4096, 1)
    # few samples: K points share the pass
    assert plan_batches(80 * gb, 100 * kb, 4 * mb, samples=512) == (512, 8)
    # an ImageNet model on a small GPU: memory sets the batch
    assert plan_batches(1 * gb, 25 * mb, 100 * mb, samples=50_000) == (20, 1)
    # K is also bounded by the weights' memory, and what the user set is kept
    assert plan_batches(8 * gb, 1 * kb, 1 * gb, samples=16) == (16, 2)
    assert plan_batches(80 * gb, 100 * kb, 4 * mb, samples=512, batch_size=64,
                        points_per_batch=3) == (64, 3)


def test_cuda_plan_is_probed_once_and_respects_the_user(monkeypatch):
    from landscape.engine import plan as surface

    model, base, _, data = _setup(n=40)
    static = {k: t for k, t in model.state_dict().items() if k not in base}
    probed = []
    monkeypatch.setattr(surface, "probe_bytes_per_image",
                        lambda m, tensors, x: probed.append(len(x)) or 1000.0)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (2**30, 2**31))
    cuda = torch.device("cuda")
    plan = surface.plan_evaluation
    assert plan(model, base, static, data, 40, cuda, None, None) == (40, 16)
    assert probed == [40]
    assert plan(model, base, static, data, 40, cuda, 8, None) == (8, 16)
    assert plan(model, base, static, data, 40, cuda, 8, 2) == (8, 2)
    assert len(probed) == 2  # nothing to choose: no probe
    assert plan(model, base, static, data, 40, torch.device("cpu"), None, None) == (128, 1)


class _Sleepy(torch.nn.Module):
    """A forward pass costing 20 ms + 5 µs · B² per batch of B: per image, 64 is the fastest
    of 32 (0.78 ms), 64 (0.63 ms) and 128 (0.80 ms), also when every sleep overshoots by a
    few ms on a busy machine."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        time.sleep(0.020 + 5e-6 * len(x) ** 2)
        return self.lin(x)


def _sleepy():
    g = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = _Sleepy()
    base = {k: t.detach() for k, t in model.named_parameters()}
    dirs, _ = create_directions(base, ndim=1, seed=0, norm="none")
    data = (torch.randn(128, 4, generator=g), torch.randint(0, 3, (128,), generator=g))
    return model, base, dirs, data


def test_probe_picks_the_fastest_batch_size_and_keeps_what_the_user_set(monkeypatch):
    from landscape.engine.plan import probe_forward

    model, base, dirs, data = _sleepy()
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compiled.append(1) or fn)
    ev = Evaluator(model, base, dirs, batch_size=128)
    plan = probe_forward(ev, data, images=1000)  # a short grid: compile not tried
    assert (plan.batch_size, plan.compile) == (64, False)
    assert ev.batch_size == 64 and not ev.compile and not compiled
    speeds = plan.probe["images_per_s"]
    assert set(speeds) == {f"eager, batch {b}" for b in (32, 64, 128)}  # 256 > 128 samples
    assert max(speeds, key=speeds.get) == "eager, batch 64"
    assert plan.probe["chosen"] == "eager, batch 64" and plan.probe["timed_images"] == 128

    ev = Evaluator(model, base, dirs, batch_size=128)
    plan = probe_forward(ev, data, images=1000, batch_size=32)  # the user's batch size stays
    assert plan.batch_size == 32 and list(plan.probe["images_per_s"]) == ["eager, batch 32"]
    # with an early stop of 64-sample blocks, a pass never crosses a block: 128 is not tried
    ev = Evaluator(model, base, dirs, batch_size=128)
    plan = probe_forward(ev, data, images=1000, block=64)
    assert set(plan.probe["images_per_s"]) == {"eager, batch 32", "eager, batch 64"}


def test_probe_tries_compile_only_on_a_grid_long_enough_to_repay_it(monkeypatch):
    from landscape.engine.plan import probe_forward

    model, base, dirs, (x, y) = _sleepy()
    data = (x[:64], y[:64])
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compiled.append(1) or fn)
    ev = Evaluator(model, base, dirs, batch_size=128)
    plan = probe_forward(ev, data, images=10_000, batch_size=32, compile_seconds=1e6)
    assert not compiled and "compile_s" not in plan.probe
    plan = probe_forward(ev, data, images=10_000, batch_size=32,
                         compile_seconds=1.0)  # ~8 s eager
    assert compiled and "compile_s" in plan.probe
    assert set(plan.probe["images_per_s"]) == {"eager, batch 32", "compiled, batch 32"}
    assert ev.compile == plan.compile  # the evaluator runs what the plan says
    plan = probe_forward(ev, data, images=10_000, batch_size=32, compile=False,
                         compile_seconds=1.0)
    assert not plan.compile and "compile_s" not in plan.probe  # the user said no


def test_surface_records_its_plan_and_skips_the_probe_for_small_grids(tmp_path, tiny_data):
    grid = Grid(Axis(-1, 1, 3), Axis(-1, 1, 3))
    small = compute_surface(make_tiny(), tiny_data, grid, progress=False, device="cpu")
    assert small.meta["plan"] is None and small.meta["batch_size"] == 64  # 9 x 37 images
    assert not small.meta["fused"]  # a float64 model has no fused forward (oneDNN: fp32, bf16)
    path = tmp_path / "s.h5"
    probed = compute_surface(make_tiny(), tiny_data, grid, progress=False, device="cpu",
                             probe=True, path=path)
    plan = load_surface(path).meta["plan"]
    assert plan["images_per_s"] and plan["chosen"] == f"eager, batch {probed.meta['batch_size']}"
    assert probed.meta["batch_size"] in (32,)  # 37 samples: 32 is the only candidate that fits
    np.testing.assert_allclose(probed.loss, small.loss, rtol=1e-12)
    given = compute_surface(make_tiny(), tiny_data, grid, progress=False, device="cpu",
                            batch_size=16, compile=False, probe=None)
    assert given.meta["plan"] is None and given.meta["batch_size"] == 16


def test_fp32_on_cuda_turns_tf32_off_and_tf32_turns_it_on():
    from landscape.engine.evaluate import _tf32

    flags = torch.backends.cuda.matmul, torch.backends.cudnn
    before = [f.allow_tf32 for f in flags]
    try:
        for f in flags:
            f.allow_tf32 = True  # cuDNN's own default: TF32 convolutions
        with _tf32(torch.device("cuda"), False):
            assert [f.allow_tf32 for f in flags] == [False, False]
        assert [f.allow_tf32 for f in flags] == [True, True]  # restored
        for f in flags:
            f.allow_tf32 = False
        with _tf32(torch.device("cuda"), True):
            assert [f.allow_tf32 for f in flags] == [True, True]
        with _tf32(torch.device("cpu"), True):  # a CPU has no TF32: nothing to touch
            assert [f.allow_tf32 for f in flags] == [False, False]
    finally:
        for f, old in zip(flags, before, strict=True):
            f.allow_tf32 = old


def _fused_small_grid(monkeypatch, refuse: bool):
    """A 3x3 fp32 grid of the float32 tiny net with the small-grid plan asking for the fused
    forward; with `refuse`, oneDNN refuses it (as a CPU without an op or a dtype would)."""
    from landscape.engine import plan

    monkeypatch.setitem(plan.SMALL_GRID_FORWARD, "fp32", (16, True))
    real = plan.fuse_convolutions

    def fuse(model):
        fused = real(model)
        if refuse and fused is not None:
            def no_primitive(self, *args, **kwargs):
                raise RuntimeError("could not create a primitive")
            monkeypatch.setattr(type(fused.module), "forward", no_primitive)
        return fused

    monkeypatch.setattr(plan, "fuse_convolutions", fuse)
    x, y = (t.float() if t.is_floating_point() else t for t in make_tiny_data())
    return compute_surface(make_tiny(dtype=torch.float32), (x, y),
                           Grid(Axis(-1, 1, 3), Axis(-1, 1, 3)), progress=False, device="cpu")


def test_a_small_grid_runs_the_fused_forward_where_asked_and_eager_where_onednn_refuses(
        monkeypatch):
    if fuse_convolutions(torch.fx.symbolic_trace(torch.nn.Sequential(
            torch.nn.Conv2d(1, 1, 1)))) is None:
        pytest.skip("no oneDNN on this machine")
    fused = _fused_small_grid(monkeypatch, refuse=False)
    assert fused.meta["fused"] and fused.meta["batch_size"] == 16
    monkeypatch.undo()
    eager = _fused_small_grid(monkeypatch, refuse=True)
    assert not eager.meta["fused"] and eager.meta["batch_size"] == 16
    assert np.isfinite(eager.loss).all()
    np.testing.assert_allclose(fused.loss, eager.loss, rtol=1e-5)


def test_the_pass_memory_check_measures_one_sample_and_leaves_the_modes_as_they_were():
    from landscape.engine.plan import _largest_activation, check_pass_memory

    model = make_tiny(dtype=torch.float32).train()
    model.bn1.eval()  # mixed flags, as a user's model may have them
    flags = [m.training for m in model.modules()]
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    x = torch.randn(1, 3, 8, 8)
    largest = [0]
    hooks = [m.register_forward_hook(lambda _m, _i, out: largest.__setitem__(
        0, max(largest[0], out.numel()) if isinstance(out, torch.Tensor) else largest[0]))
        for m in model.modules()]
    with torch.no_grad():
        model.eval()(x)
    for hook in hooks:
        hook.remove()
    model.train()
    model.bn1.eval()
    assert _largest_activation(model, tensors, x) == largest[0] > 0
    assert [m.training for m in model.modules()] == flags
    data = (torch.randn(37, 3, 8, 8), torch.zeros(37, dtype=torch.long))
    weights = sum(t.numel() * t.element_size() for t in tensors.values())
    need = 2 * weights + 3 * 37 * largest[0] * 4  # one point, the batch of all 37 samples
    check_pass_memory(model, tensors, data, 64, 1, torch.device("cpu"), available=2 * need + 2)
    with pytest.raises(ValueError, match="pass a smaller --batch-size"):
        check_pass_memory(model, tensors, data, 64, 1, torch.device("cpu"), available=2 * need - 2)
