"""Trajectories: PCA of a synthetic path lying in a known plane, projection, surface, figures."""

import numpy as np
import pytest
import torch

from landscape.analysis.trajectory import (
    path_grid,
    pca_directions,
    project_path,
    trajectory_surface,
)
from landscape.engine.params import get_params
from landscape.pictures.trajectory import trajectory_figure, trajectory_view
from tests.conftest import make_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def _plane_path(final, n=9, seed=0, noise=0.0):
    """θ_i = θ_n + a_i u + b_i v with orthonormal u, v over the filters (1-D tensors fixed)."""
    g = torch.Generator().manual_seed(seed)
    keys = [k for k, t in final.items() if t.dim() > 1]
    size = sum(final[k].numel() for k in keys)
    q, _ = torch.linalg.qr(torch.randn(size, 2, generator=g, dtype=torch.float64))
    u, v = q[:, 0], q[:, 1]
    t = torch.linspace(0, 1, n, dtype=torch.float64)
    a = (3.0 * (1 - t) ** 2).tolist()              # most of the motion along u
    b = (torch.sin(3 * t) * (1 - t)).tolist()      # a curve: the second direction is needed
    path = []
    for ai, bi in zip(a, b, strict=True):
        flat = ai * u + bi * v + noise * torch.randn(size, generator=g, dtype=torch.float64)
        parts = dict(zip(keys, flat.split([final[k].numel() for k in keys]), strict=True))
        path.append({k: final[k] + parts[k].reshape(final[k].shape) if k in parts
                     else final[k].clone() for k in final})
    return path, (u, v), np.stack([a, b], axis=1), keys


def test_pca_of_a_path_in_a_known_plane_recovers_the_plane_and_the_coordinates():
    final = get_params(make_tiny())
    path, (u, v), ab, keys = _plane_path(final)
    dirs, explained = pca_directions(path)
    assert explained.sum() == pytest.approx(1.0, abs=1e-10)  # all of the path is in the plane
    assert explained[0] > explained[1] > 0
    flat = [torch.cat([d[k].reshape(-1) for k in keys]) for d in dirs]
    basis = torch.stack([u, v], dim=1)
    for f in flat:  # each direction lies in span(u, v), with unit norm, and they are orthogonal
        assert float(f.norm()) == pytest.approx(1.0, rel=1e-10)
        torch.testing.assert_close(basis @ (basis.T @ f), f)
    assert float(flat[0] @ flat[1]) == pytest.approx(0.0, abs=1e-10)
    assert all(not d[k].any() for d in dirs for k in final if final[k].dim() <= 1)
    coords = project_path(path, path[-1], dirs)
    np.testing.assert_allclose(coords[-1], [0.0, 0.0], atol=1e-12)
    assert coords[0, 0] >= 0 and coords[0, 1] >= 0  # sign convention: the start is positive
    # the projection is an isometry of the plane: distances between checkpoints are kept
    d_true = np.linalg.norm(ab[:, None] - ab[None], axis=-1)
    d_proj = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.testing.assert_allclose(d_proj, d_true, atol=1e-10)


def test_uncentred_pca_and_noise_leave_variance_out_of_the_plane():
    final = get_params(make_tiny())
    path, *_ = _plane_path(final, noise=0.05, n=12)
    _, explained = pca_directions(path, center=False)
    assert 0.5 < explained.sum() < 1.0
    with pytest.raises(ValueError, match="principal directions"):
        pca_directions(path[:2])


def test_project_path_handles_non_orthogonal_directions():
    final = {"w": torch.zeros(3, 2, dtype=torch.float64)}
    d1 = {"w": torch.tensor([[1.0, 0], [0, 0], [0, 0]], dtype=torch.float64)}
    d2 = {"w": torch.tensor([[1.0, 1], [0, 0], [0, 0]], dtype=torch.float64)}
    theta = {"w": 2 * d1["w"] + 3 * d2["w"]}
    np.testing.assert_allclose(project_path([theta], final, [d1, d2]), [[2.0, 3.0]])


def test_path_grid_covers_the_path_and_the_origin():
    coords = np.array([[2.0, -1.0], [1.0, 0.5], [0.3, 0.2]])
    grid = path_grid(coords, num=5, margin=0.1)
    assert grid.x.start < 0 < 2.0 < grid.x.stop
    assert grid.y.start < -1.0 and grid.y.stop > 0.5
    assert grid.shape == (5, 5)


def test_trajectory_surface_and_figures(tiny_data):
    model = make_tiny()
    final = get_params(model)
    path, *_ = _plane_path({k: t.clone() for k, t in final.items()}, n=5)
    traj = trajectory_surface(model, path, tiny_data, num=4, progress=False)
    assert traj.surface.shape == (4, 4) and traj.surface.done.all()
    assert traj.path_loss.shape == (5,)
    # the final point is θ_n itself: its loss is the model's loss
    with torch.no_grad():
        loss = torch.nn.functional.cross_entropy(model(tiny_data[0]), tiny_data[1])
    assert traj.path_loss[-1] == pytest.approx(float(loss), rel=1e-9)
    assert traj.surface.meta["directions"] == "pca"
    fig = trajectory_figure(traj.surface, traj.coords, explained=traj.explained,
                            labels=list(range(5)))
    assert "PCA" in fig.axes[0].get_xlabel()
    view = trajectory_view(traj.surface, traj.coords, traj.path_loss)
    assert any(t.type == "scatter3d" for t in view.data)
