import pytest
import torch

from landscape.engine.directions import (
    create_directions,
    interpolation_direction,
    match_directions,
    normalize_direction,
    plane_directions,
    random_direction,
)
from landscape.engine.params import cosine, get_params
from tests.conftest import make_tiny


def test_same_seed_same_directions_and_y_independent_of_x():
    params = get_params(make_tiny())
    a, _ = create_directions(params, seed=3)
    b, info = create_directions(params, seed=3)
    c, _ = create_directions(params, seed=4)
    for k in params:
        torch.testing.assert_close(a[0][k], b[0][k], rtol=0, atol=0)
        torch.testing.assert_close(a[1][k], b[1][k], rtol=0, atol=0)
    assert any(not torch.equal(a[0][k], c[0][k]) for k in params if params[k].dim() > 1)
    assert abs(info["cosine_xy"]) < 0.5
    assert info["cosine_xy"] == pytest.approx(cosine(a[0], a[1]))


def test_filter_normalization_matches_each_filter_norm():
    params = get_params(make_tiny())
    d = normalize_direction(random_direction(params, generator=torch.Generator().manual_seed(0)),
                            params, "filter", "biasbn")
    for k, p in params.items():
        if p.dim() <= 1:
            assert torch.count_nonzero(d[k]) == 0, k  # biasbn: 1-D tensors do not move
            continue
        for j in range(p.shape[0]):
            torch.testing.assert_close(d[k][j].norm(), p[j].norm(), rtol=1e-6, atol=0)


def test_layer_model_none_normalizations():
    params = get_params(make_tiny())
    raw = random_direction(params, generator=torch.Generator().manual_seed(0))
    layer = normalize_direction(raw, params, "layer", "biasbn")
    for k, p in params.items():
        if p.dim() > 1:
            torch.testing.assert_close(layer[k].norm(), p.norm(), rtol=1e-6, atol=0)
    model = normalize_direction(raw, params, "model", "biasbn")
    moved = [k for k in params if params[k].dim() > 1]
    total_d = sum(model[k].pow(2).sum() for k in moved) ** 0.5
    total_p = sum(params[k].pow(2).sum() for k in moved) ** 0.5
    torch.testing.assert_close(total_d, total_p, rtol=1e-6, atol=0)
    none = normalize_direction(raw, params, "none", "none")
    for k in params:
        torch.testing.assert_close(none[k], raw[k])


def test_ignore_none_normalizes_1d_tensors_without_copying_weights():
    params = get_params(make_tiny())
    raw = random_direction(params, generator=torch.Generator().manual_seed(0))
    d = normalize_direction(raw, params, "filter", "none")
    bias = "bn1.bias"
    torch.testing.assert_close(d[bias].norm(), params[bias].norm(), rtol=1e-6, atol=0)
    assert not torch.allclose(d[bias], params[bias])
    assert cosine({bias: d[bias]}, {bias: raw[bias]}) == pytest.approx(1.0)


def test_states_include_running_stats_but_not_num_batches_tracked():
    states = get_params(make_tiny(), "states")
    assert "bn1.running_mean" in states and "bn1.running_var" in states
    assert not any(k.endswith("num_batches_tracked") for k in states)
    dirs, _ = create_directions(states, seed=0)
    assert torch.count_nonzero(dirs[0]["bn1.running_mean"]) == 0  # 1-D, biasbn


def test_unknown_options_are_refused():
    params = get_params(make_tiny())
    with pytest.raises(ValueError, match="norm must be one of"):
        normalize_direction(params, params, "filterwise")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ignore must be one of"):
        normalize_direction(params, params, "filter", "bn")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dir_type"):
        get_params(make_tiny(), "buffers")  # type: ignore[arg-type]


def test_interpolation_and_plane():
    a, b, c = (get_params(make_tiny(s)) for s in (0, 1, 2))
    d = interpolation_direction(a, b)
    for k in a:
        torch.testing.assert_close(a[k] + d[k], b[k])
    dx, dy = plane_directions(a, b, c)
    for k in a:
        torch.testing.assert_close(a[k] + dy[k], c[k])
        torch.testing.assert_close(a[k] + dx[k], b[k])


def test_match_by_position_and_clear_errors():
    params = get_params(make_tiny())
    by_position = {str(i): t.clone() for i, t in enumerate(params.values())}
    matched = match_directions(by_position, params)
    assert list(matched) == list(params)
    wrong = dict(params)
    wrong["fc.weight"] = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape mismatches.*fc.weight"):
        match_directions(wrong, params)
    with pytest.raises(ValueError, match="holds 2 tensors but the model has"):
        match_directions({"0": params["conv1.weight"], "1": params["fc.bias"]}, params)
