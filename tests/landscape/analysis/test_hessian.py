"""Curvature: quadratics with a known spectrum, and the exact dense Hessian of a tiny network."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from landscape import Axis, Grid, compute_surface, load_surface
from landscape.analysis.hessian import (
    eigen_map,
    eigen_ratio,
    hessian_directions,
    hutchinson_trace,
    hvp,
    min_eigenvalue,
    top_eigenvalues,
)
from landscape.engine.params import get_params
from landscape.pictures.hessian import eigen_map_figure

pytestmark = pytest.mark.usefixtures("one_thread")


class Quadratic(nn.Module):
    """Every sample's loss is 0.5 θᵀAθ + bᵀθ: the Hessian is A, at every point."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, theta: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("a", a)
        self.register_buffer("b", b)
        self.w = nn.Parameter(theta[:6].reshape(2, 3).clone())
        self.v = nn.Parameter(theta[6:].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.cat([self.w.reshape(-1), self.v])
        return (0.5 * t @ self.a @ t + self.b @ t).expand(len(x))


def identity_loss(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
    return out


def _quadratic(spectrum: list[float], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n = len(spectrum)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    a = q @ torch.diag(torch.tensor(spectrum, dtype=torch.float64)) @ q.T
    model = Quadratic(a, torch.randn(n, generator=g, dtype=torch.float64),
                      torch.randn(n, generator=g, dtype=torch.float64))
    data = (torch.zeros(5, 1, dtype=torch.float64), torch.zeros(5))
    return model, a, data


SPECTRUM = [9.0, 5.0, 3.0, 1.5, 0.5, 0.1, -0.2, -2.0, 0.0, 0.3]


def test_hvp_on_a_quadratic_is_a_times_v():
    model, a, data = _quadratic(SPECTRUM)
    g = torch.Generator().manual_seed(3)
    v = {k: torch.randn(p.shape, generator=g, dtype=torch.float64)
         for k, p in get_params(model).items()}
    out = hvp(model, None, data, v, identity_loss, batch_size=2)
    flat_v = torch.cat([v["w"].reshape(-1), v["v"]])
    expected = a @ flat_v
    torch.testing.assert_close(torch.cat([out["w"].reshape(-1), out["v"]]), expected)
    assert model.w.grad is None and model.training  # untouched


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_top_and_min_eigenvalues_of_a_known_spectrum(method):
    model, _, data = _quadratic(SPECTRUM)
    top = top_eigenvalues(model, data, 3, loss_fn=identity_loss, method=method, iters=500,
                          tol=1e-10, seed=1)
    np.testing.assert_allclose(top.values, [9.0, 5.0, 3.0], rtol=1e-6)
    assert top.converged
    low = min_eigenvalue(model, data, loss_fn=identity_loss, method=method, iters=2000,
                         tol=1e-12, seed=1)
    np.testing.assert_allclose(low.values, [-2.0], rtol=1e-5)
    # eigenvectors: H u = λ u (power iteration's vectors converge as the root of its values)
    close = 1e-5 if method == "lanczos" else 1e-3
    for lam, vec in zip(top.values, top.vectors, strict=True):
        hu = hvp(model, None, data, vec, identity_loss)
        for k in vec:
            torch.testing.assert_close(hu[k], lam * vec[k], atol=close, rtol=close)


def test_min_eigenvalue_is_not_fooled_by_a_bulk_near_zero():
    """A network's spectrum: one large value, a bulk near 0, one clearly negative value. A Ritz
    value inside the bulk has a small residual compared with λ_max early on; it must not stop
    the search for λ_min."""
    spectrum = [20.0, *np.linspace(-0.02, 0.02, 47).tolist(), -1.0]
    model, _, data = _quadratic(spectrum, seed=3)
    low = min_eigenvalue(model, data, loss_fn=identity_loss, iters=49, tol=1e-2)
    assert low.values[0] == pytest.approx(-1.0, rel=1e-2)


def test_lanczos_finds_repeated_eigenvalues_by_restarting():
    model, _, data = _quadratic([4.0, 4.0, 4.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.2, 0.1])
    top = top_eigenvalues(model, data, 4, loss_fn=identity_loss, iters=50, tol=1e-10)
    np.testing.assert_allclose(top.values, [4.0, 4.0, 4.0, 1.0], rtol=1e-8)


def test_hutchinson_is_exact_for_a_diagonal_hessian_and_unbiased_otherwise():
    diag = [3.0, -1.0, 0.5, 2.0, 7.0, 0.0, 1.0, 1.0, -4.0, 0.25]
    model, _, data = _quadratic(diag)
    # rotate back to a diagonal A: Quadratic with a diagonal matrix
    model.a.copy_(torch.diag(torch.tensor(diag, dtype=torch.float64)))
    est = hutchinson_trace(model, data, loss_fn=identity_loss, samples=3, seed=0)
    assert est.trace == pytest.approx(sum(diag), rel=1e-12)
    assert est.stderr == pytest.approx(0.0, abs=1e-12)
    model, a, data = _quadratic(SPECTRUM)
    est = hutchinson_trace(model, data, loss_fn=identity_loss, samples=100, seed=0)
    assert abs(est.trace - sum(SPECTRUM)) < 4 * est.stderr
    assert est.stderr > 0


class TinyMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)))


def _dense_hessian(model, data):
    params = get_params(model)
    keys, shapes = list(params), [p.shape for p in params.values()]
    flat = torch.cat([p.reshape(-1) for p in params.values()])
    x, y = data

    def loss_of(t):
        parts = dict(zip(keys, [p.reshape(s) for p, s in zip(
            t.split([s.numel() for s in shapes]), shapes, strict=True)], strict=True))
        return nn.functional.cross_entropy(functional_call(model, parts, (x,)), y)

    return torch.autograd.functional.hessian(loss_of, flat), flat


def test_against_the_exact_dense_hessian_of_a_tiny_network():
    torch.manual_seed(0)
    model = TinyMLP().double().eval()
    g = torch.Generator().manual_seed(2)
    data = (torch.randn(40, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,),
                                                                                 generator=g))
    dense, flat = _dense_hessian(model, data)
    exact = torch.linalg.eigvalsh(dense).numpy()
    # H v
    v = torch.randn(flat.numel(), generator=g, dtype=torch.float64)
    params = get_params(model)
    parts = dict(zip(params, v.split([p.numel() for p in params.values()]), strict=True))
    out = hvp(model, None, data, {k: parts[k].reshape(params[k].shape) for k in params},
              batch_size=7)
    got = torch.cat([out[k].reshape(-1) for k in params])
    torch.testing.assert_close(got, dense @ v, rtol=1e-10, atol=1e-12)
    # top 3, min, trace
    top = top_eigenvalues(model, data, 3, iters=flat.numel(), tol=1e-9)
    np.testing.assert_allclose(top.values, exact[::-1][:3], rtol=1e-4)
    low = min_eigenvalue(model, data, iters=flat.numel(), tol=1e-9)
    np.testing.assert_allclose(low.values, exact[:1], rtol=1e-4)
    est = hutchinson_trace(model, data, samples=40, seed=4)
    assert abs(est.trace - exact.sum()) < 4 * est.stderr
    # Hessian directions are unit eigenvectors for the top two eigenvalues
    dirs = hessian_directions(model, data, iters=flat.numel(), tol=1e-9)
    for d, lam in zip(dirs, exact[::-1][:2], strict=True):
        u = torch.cat([d[k].reshape(-1) for k in params])
        assert float(u.norm()) == pytest.approx(1.0, rel=1e-8)
        torch.testing.assert_close(dense @ u, lam * u, atol=1e-6, rtol=1e-5)


def test_hessian_directions_drive_compute_surface(tiny_model, tiny_data):
    params = {k: v for k, v in get_params(tiny_model).items() if k.startswith("fc")}
    dirs = hessian_directions(tiny_model, tiny_data, params=params, iters=30, tol=1e-4)
    assert set(dirs[0]) == set(get_params(tiny_model))
    assert not dirs[0]["conv1.weight"].any()
    s = compute_surface(tiny_model, tiny_data, Grid(Axis(-0.5, 0.5, 3), Axis(-0.5, 0.5, 3)),
                        directions=dirs, progress=False)
    assert s.done.all() and np.isfinite(s.loss).all()


def test_eigen_map_of_a_quadratic_is_constant_and_resumes(tmp_path, monkeypatch):
    model, _, data = _quadratic(SPECTRUM)
    grid = Grid(Axis(-1, 1, 3), Axis(-1, 1, 2))
    path = tmp_path / "eig.h5"
    first = eigen_map(model, data, grid, path=path, loss_fn=identity_loss, norm="none",
                      iters=60, tol=1e-10, progress=False)
    np.testing.assert_allclose(first.extras["max_eig"], np.full((3, 2), 9.0), rtol=1e-6)
    np.testing.assert_allclose(first.extras["min_eig"], np.full((3, 2), -2.0), rtol=1e-6)
    np.testing.assert_allclose(eigen_ratio(first), np.full((3, 2), 2 / 9), rtol=1e-6)
    stored = load_surface(path)
    np.testing.assert_allclose(stored.extras["max_eig"], first.extras["max_eig"])
    assert stored.done.all() and np.isfinite(stored.loss).all()
    # knock out two points as an interrupted run would leave them; resume computes only those
    from landscape.engine import store

    store.write_points(path, "train", np.array([1, 4]),
                       {"max_eig": np.array([np.nan, np.nan]), "eig_done": np.array([0.0, 0.0])})
    calls = []
    import landscape.analysis.hessian as h

    original = h._extremes
    monkeypatch.setattr(h, "_extremes", lambda *a, **k: calls.append(1) or original(*a, **k))
    again = eigen_map(model, data, grid, path=path, resume=True, loss_fn=identity_loss,
                      iters=60, tol=1e-10, progress=False)
    assert len(calls) == 2
    np.testing.assert_allclose(again.extras["max_eig"], np.full((3, 2), 9.0), rtol=1e-6)
    fig = eigen_map_figure(again)
    assert len(fig.axes) >= 2


def test_eigen_map_on_a_line_without_a_file():
    torch.manual_seed(0)
    model = TinyMLP().double().eval()
    g = torch.Generator().manual_seed(2)
    data = (torch.randn(20, 4, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (20,), generator=g))
    s = eigen_map(model, data, Grid(Axis(-0.5, 0.5, 3)), iters=51, tol=1e-8, ignore="none",
                  progress=False)
    assert np.all(s.extras["eig_done"] == 1.0)
    dense, _ = _dense_hessian(model, data)
    exact = torch.linalg.eigvalsh(dense).numpy()
    np.testing.assert_allclose([s.extras["min_eig"][1], s.extras["max_eig"][1]],
                               [exact[0], exact[-1]], rtol=1e-4)  # the centre is θ*
    assert np.all(s.extras["max_eig"] >= s.extras["min_eig"])
    eigen_map_figure(s)


def test_bad_arguments_raise_value_errors(tiny_model, tiny_data):
    with pytest.raises(ValueError, match="method"):
        top_eigenvalues(tiny_model, tiny_data, method="arnoldi")
    with pytest.raises(ValueError, match="k must"):
        top_eigenvalues(tiny_model, tiny_data, k=0)
    with pytest.raises(ValueError, match="samples"):
        hutchinson_trace(tiny_model, tiny_data, samples=0)


def test_eigen_map_flags_points_whose_lanczos_did_not_converge():
    torch.manual_seed(0)
    model = TinyMLP().double().eval()
    g = torch.Generator().manual_seed(2)
    data = (torch.randn(20, 4, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (20,), generator=g))
    grid = Grid(Axis(-0.5, 0.5, 3))
    loose = eigen_map(model, data, grid, iters=4, tol=1e-8, ignore="none", progress=False)
    tight = eigen_map(model, data, grid, iters=51, tol=1e-8, ignore="none", progress=False)
    assert np.all(loose.extras["eig_done"] == 1.0)  # computed: yes; to be trusted: no
    assert np.all(loose.extras["eig_converged"] == 0.0)
    assert np.all(tight.extras["eig_converged"] == 1.0)
    dense, _ = _dense_hessian(model, data)
    exact_min = float(torch.linalg.eigvalsh(dense)[0])
    assert abs(loose.extras["min_eig"][1] - exact_min) > abs(tight.extras["min_eig"][1]
                                                             - exact_min)
    fig = eigen_map_figure(loose)
    crosses = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert crosses and len(crosses[0].get_xdata()) == 3
    assert "not converged (3 of 3 points)" in [t.get_text() for t in fig.axes[0].get_legend()
                                               .get_texts()]


def test_eigen_ratio_colours_are_fixed_at_half_unless_relative():
    x = np.linspace(-1, 1, 3)
    s = compute_like_eigen_map(x, ratio=0.1)
    fixed = eigen_map_figure(s)
    (mesh, *_) = fixed.axes[0].collections
    assert mesh.norm.vmin == 0.0 and mesh.norm.vmax == 0.5  # Li et al.'s scale
    relative = eigen_map_figure(s, vmax=None)
    assert relative.axes[0].collections[0].norm.vmax == pytest.approx(0.1)
    assert "scaled to this map" in relative.axes[2].get_ylabel()
    labels = [t.get_text() for leg in fixed.legends for t in leg.get_texts()]
    assert labels == ["θ*", "loss contours (white)"]


def compute_like_eigen_map(x: np.ndarray, ratio: float):
    from landscape.engine.types import Surface

    shape = (len(x), len(x))
    a, b = np.meshgrid(x, x, indexing="ij")
    return Surface(x=x, y=x, loss=1 + a ** 2 + b ** 2, accuracy=None,
                   done=np.ones(shape, bool),
                   extras={"max_eig": np.full(shape, 10.0), "min_eig": np.full(shape, -ratio * 10),
                           "eig_done": np.ones(shape), "eig_converged": np.ones(shape)})


def test_eigen_map_draws_loss_contours_log_spaced_when_the_loss_spans_decades():
    from matplotlib.contour import ContourSet

    from landscape.engine.types import Surface

    x = y = np.linspace(-0.5, 0.5, 5)
    a, b = np.meshgrid(x, y, indexing="ij")
    ones = np.ones((5, 5))

    def levels(loss: np.ndarray) -> np.ndarray:
        s = Surface(x, y, loss, None, ones.astype(bool),
                    extras={"max_eig": 10 * ones, "min_eig": -ones, "eig_done": ones,
                            "eig_converged": ones})
        fig = eigen_map_figure(s, levels=6)
        sets = [c for c in fig.axes[0].get_children() if isinstance(c, ContourSet)]
        assert len(sets) == 1
        return np.asarray(sets[0].levels)

    steep = 0.1 * np.exp(12 * (a**2 + b**2))  # 0.1 at θ* to 40 at the corners
    lv = levels(steep)
    np.testing.assert_allclose(np.diff(np.log(lv)), np.log(lv[1] / lv[0]), rtol=1e-9)
    assert lv[0] < 0.1 * 10**0.5  # a ring close to θ*, not all in the corners
    gentle = 1.0 + a**2 + b**2     # within a decade: plain linear levels
    lv = levels(gentle)
    assert np.allclose(np.diff(lv), lv[1] - lv[0])
