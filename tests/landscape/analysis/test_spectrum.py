"""SLQ spectral density: exact quadrature on a known matrix, the dense Hessian of a small MLP."""

import numpy as np
import pytest
import torch
from torch import nn

from landscape.analysis.hessian import hessian_rows, hvp
from landscape.analysis.spectrum import (
    Spectrum,
    gaussian_density,
    lanczos_quadrature,
    spectral_density,
    spectrum_from_record,
    spectrum_record,
    wasserstein_distance,
)
from landscape.engine.params import get_params

pytestmark = pytest.mark.usefixtures("one_thread")


def _matrix(spectrum: list[float], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = len(spectrum)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.tensor(spectrum, dtype=torch.float64)) @ q.T


def test_quadrature_is_exact_for_moments_below_twice_the_steps():
    # 40 eigenvalues, 6 steps: Σ τ θ^k must equal vᵀA^k v for k < 12 (Gauss quadrature)
    lam = np.linspace(-3.0, 7.0, 40) + 0.01 * np.arange(40) ** 1.5
    a = _matrix(list(lam), seed=1)
    g = torch.Generator().manual_seed(2)
    starts = torch.randn(3, 40, generator=g, dtype=torch.float64)
    nodes, weights, spent = lanczos_quadrature(lambda _, vs: [a @ v for v in vs], list(starts), 6)
    assert spent == 18 and nodes.shape == (3, 6)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-12)
    for r in range(3):
        v = (starts[r] / starts[r].norm()).numpy()
        for k in range(12):
            exact = v @ np.linalg.matrix_power(a.numpy(), k) @ v
            np.testing.assert_allclose((weights[r] * nodes[r] ** k).sum(), exact,
                                       rtol=1e-8, atol=1e-8 * 7.0 ** k)
    # the extreme Ritz values lie inside the spectrum and approach its ends
    assert lam.min() <= nodes.min() < lam.min() + 0.5
    assert lam.max() - 0.5 < nodes.max() <= lam.max()


def test_a_run_stops_when_its_krylov_space_is_exhausted():
    # 3 distinct eigenvalues (multiplicities 2, 3, 1): every rule needs 3 nodes and is then exact
    a = _matrix([2.0, 2.0, -1.0, -1.0, -1.0, 5.0])
    starts = torch.randn(2, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    nodes, weights, spent = lanczos_quadrature(lambda _, vs: [a @ v for v in vs], list(starts), 20)
    assert nodes.shape == (2, 6) and spent == 6
    for r in range(2):
        np.testing.assert_allclose(nodes[r, :3], [-1.0, 2.0, 5.0], atol=1e-9)
        assert np.isnan(nodes[r, 3:]).all() and (weights[r, 3:] == 0).all()


class SmallMLP(nn.Module):
    """10 -> 8 -> 4 with tanh, 124 parameters: small enough for the dense Hessian."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(10, 8)
        self.out = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(x)))


def _mlp_and_data():
    torch.manual_seed(0)
    model = SmallMLP().double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 10, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (64,), generator=g)
    return model, (x, y)


def _dense_eigenvalues(model: nn.Module, data) -> np.ndarray:
    x, y = data
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        parts = theta.split([s.numel() for s in shapes])
        weights = {k: p.view(s) for k, p, s in zip(names, parts, shapes, strict=True)}
        out = torch.func.functional_call(model, weights, (x,))
        return nn.functional.cross_entropy(out, y)

    h = torch.autograd.functional.hessian(loss, flat)
    return np.linalg.eigvalsh(h.numpy())


def test_slq_matches_the_dense_spectrum_of_a_small_network():
    model, data = _mlp_and_data()
    exact = _dense_eigenvalues(model, data)
    n = len(exact)
    assert n == 124 and exact.min() < -1e-3  # away from a minimum: negative curvature too
    spec = spectral_density(model, data, runs=10, steps=20, seed=0, batch_size=16)
    assert spec.dimension == n and spec.matvecs == 200
    # the spectra are close: W1 well below the spread of the eigenvalues
    w1 = wasserstein_distance(spec.nodes, spec.weights, exact, None)
    spread = exact.max() - exact.min()
    assert w1 < 0.02 * spread, (w1, spread)
    # an estimate with one Lanczos node per run at the mean is far off: the test can fail
    naive = wasserstein_distance(np.array([exact.mean()]), None, exact, None)
    assert naive > 5 * w1
    # first and second moments within three of their standard errors
    for power in (1, 2):
        estimate, se = spec.moment(power)
        truth = float((exact ** power).sum())
        assert se > 0
        assert abs(estimate - truth) < 3 * se, (power, estimate, truth, se)
    # the extreme Ritz values find the ends, including the negative one
    low, high = spec.extremes()
    np.testing.assert_allclose([low, high], [exact.min(), exact.max()], rtol=1e-6, atol=1e-9)


def test_the_broadened_density_integrates_to_one_and_puts_mass_below_zero():
    model, data = _mlp_and_data()
    exact = _dense_eigenvalues(model, data)
    spec = spectral_density(model, data, runs=4, steps=30, seed=3, batch_size=64)
    grid, density, sigma = spec.density(sigma=0.01)
    assert sigma == 0.01 and (density >= 0).all()
    np.testing.assert_allclose(np.trapezoid(density, grid), 1.0, rtol=1e-6)
    below = np.trapezoid(np.where(grid < -0.05, density, 0.0), grid)
    truth = float((exact < -0.05).mean())
    assert truth > 0 and abs(below - truth) < 0.1
    # the default width is PyHessian's: variance 1e-5 of the range
    _, _, default = spec.density(points=100)
    low, high = spec.extremes()
    np.testing.assert_allclose(default**2, 1e-5 * max(1.0, high - low))


def test_lockstep_products_equal_single_hessian_vector_products(tiny_model, tiny_data):
    point = {k: t.detach() for k, t in get_params(tiny_model).items()}
    products, keys = hessian_rows(tiny_model, point, tiny_data, None, batch_size=10)
    g = torch.Generator().manual_seed(5)
    rows = torch.randn(3, sum(point[k].numel() for k in keys), generator=g, dtype=torch.float64)
    out = products(list(rows), [None] * 3)
    for r in range(3):
        parts = rows[r].split([point[k].numel() for k in keys])
        v = {k: p.view(point[k].shape) for k, p, in zip(keys, parts, strict=True)}
        single = hvp(tiny_model, None, tiny_data, v, batch_size=37)
        torch.testing.assert_close(out[r], torch.cat([single[k].reshape(-1) for k in keys]))


def test_results_do_not_depend_on_the_batch_size_and_the_model_is_unchanged(tiny_model,
                                                                           tiny_data):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    a = spectral_density(tiny_model, tiny_data, runs=2, steps=5, seed=1, batch_size=37)
    b = spectral_density(tiny_model, tiny_data, runs=2, steps=5, seed=1, batch_size=8)
    np.testing.assert_allclose(a.nodes, b.nodes, rtol=1e-8, atol=1e-10)
    for k, v in tiny_model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    c = spectral_density(tiny_model, tiny_data, runs=2, steps=5, seed=2, batch_size=37)
    assert not np.allclose(a.nodes, c.nodes)


def test_helpers_refuse_bad_input():
    model, data = _mlp_and_data()
    with pytest.raises(ValueError, match="runs must be >= 1"):
        spectral_density(model, data, runs=0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        spectral_density(model, data, steps=0)
    spec = Spectrum(nodes=np.array([[0.0, 1.0]]), weights=np.array([[0.5, 0.5]]), dimension=2,
                    steps=2, matvecs=2, seed=0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        spec.density(sigma=0.0)
    assert np.isnan(spec.moment(1)[1])  # one run: no standard error
    with pytest.raises(ValueError, match="no value with positive weight"):
        wasserstein_distance(np.array([np.nan]), None, np.array([1.0]), None)


def test_wasserstein_distance_of_shifted_and_split_masses():
    assert wasserstein_distance(np.array([0.0]), None, np.array([2.5]), None) == 2.5
    # half the mass moves by 2: W1 = 1
    np.testing.assert_allclose(
        wasserstein_distance(np.array([0.0, 1.0]), None, np.array([0.0, 3.0]), None), 1.0)
    density = gaussian_density(np.array([[0.0]]), np.array([[1.0]]), np.array([0.0]), 2.0)
    np.testing.assert_allclose(density, 1 / (2.0 * np.sqrt(2 * np.pi)))


def test_the_record_counts_negative_mass_beyond_the_broadening_only():
    # a bulk at ±1e-4 (either sign, as Ritz values near 0 come out) and 10% at -1
    spec = Spectrum(nodes=np.array([[-1.0, -1e-4, 1e-4, 5.0]]),
                    weights=np.array([[0.1, 0.4, 0.4, 0.1]]), dimension=100, steps=4,
                    matvecs=4, seed=0)
    record = spectrum_record(spec, sigma=0.01, points=500)
    assert record["negative_mass"] == pytest.approx(0.1)
    assert record["trace"] == pytest.approx(100 * (-0.1 + 0.5))
    assert spectrum_from_record(record).nodes.tolist() == spec.nodes.tolist()
    with pytest.raises(ValueError, match="not a spectrum record"):
        spectrum_from_record({"grid": []})
