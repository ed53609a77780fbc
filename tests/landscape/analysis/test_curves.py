"""Bezier curves between minima: a valley of known shape, resume = uninterrupted, the ends."""

import numpy as np
import pytest
import torch
from torch import nn

from landscape.analysis.curves import (
    bezier,
    curve_coordinates,
    evaluate_curve,
    line_coordinates,
    load_curve,
    plane_directions_of,
    train_curve,
)
from landscape.engine.evaluate import evaluate_points
from landscape.engine.params import combine, get_params
from tests.conftest import make_tiny, make_tiny_data

pytestmark = pytest.mark.usefixtures("one_thread")


class Valley(nn.Module):
    """Loss (w_y − (1 − w_x²))²: zero along the parabola w_y = 1 − w_x², which joins the minima
    A = (−1, 0) and B = (1, 0); on the straight line between them it climbs to 1 at (0, 0).
    The Bezier curve with bend (0, 2) is exactly that parabola: x = 2t − 1, y = 4t(1 − t)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((self.w[1] - 1 + self.w[0] ** 2) ** 2).expand(len(x))


def identity(out: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
    return out


def _valley():
    model = Valley()
    data = (torch.zeros(32, 1, dtype=torch.float64), torch.zeros(32, dtype=torch.float64))
    a = {"w": torch.tensor([-1.0, 0.0], dtype=torch.float64)}
    b = {"w": torch.tensor([1.0, 0.0], dtype=torch.float64)}
    return model, data, a, b


def test_the_plane_coordinates_give_the_curve_and_the_line():
    g = torch.Generator().manual_seed(0)
    a, bend, b = ({"p": torch.randn(5, generator=g, dtype=torch.float64)} for _ in range(3))
    dirs = plane_directions_of(a, bend, b)
    for t in (0.0, 0.3, 0.5, 1.0):
        on_curve = combine(a, dirs, list(curve_coordinates(np.array([t]))[0]))
        torch.testing.assert_close(on_curve["p"], bezier(a, bend, b, t)["p"])
        on_line = combine(a, dirs, list(line_coordinates(np.array([t]))[0]))
        torch.testing.assert_close(on_line["p"], (1 - t) * a["p"] + t * b["p"])


def test_a_trained_curve_follows_a_curved_valley_the_line_cannot():
    model, data, a, b = _valley()
    state = train_curve(model, a, b, data, epochs=40, lr=0.05, weight_decay=0.0, batch_size=8,
                        loss_fn=identity, device="cpu")
    torch.testing.assert_close(state.bend["w"], torch.tensor([0.0, 2.0], dtype=torch.float64),
                               atol=0.05, rtol=0)
    t = np.linspace(0, 1, 11)
    values = evaluate_curve(model, a, state.bend, b, data, t, loss_fn=identity, device="cpu")
    assert values.line.loss.max() == pytest.approx(1.0)  # at t = 0.5: (0 − 1)²
    assert values.curve.loss.max() < 0.01
    assert state.history[-1] < 0.01 < state.history[0]
    # the untrained bend (the midpoint) is the line itself
    mid = {"w": 0.5 * (a["w"] + b["w"])}
    flat = evaluate_curve(model, a, mid, b, data, t, loss_fn=identity, device="cpu")
    np.testing.assert_allclose(flat.curve.loss.max(), 1.0)


class StopTrainingError(Exception):
    pass


def test_resume_equals_uninterrupted(tmp_path):
    model, data = make_tiny(0), make_tiny_data()
    a, b = get_params(model), get_params(make_tiny(1))
    kw = {"epochs": 4, "lr": 0.05, "batch_size": 8, "seed": 3, "device": "cpu"}
    whole = train_curve(model, a, b, data, **kw)
    calls = []

    def failing(out, y):
        calls.append(1)
        if len(calls) > 2 * 5:  # 37 samples in batches of 8: 5 steps per epoch
            raise StopTrainingError
        return nn.functional.cross_entropy(out, y, reduction="none")

    path = tmp_path / "curve.pt"
    with pytest.raises(StopTrainingError):
        train_curve(model, a, b, data, loss_fn=failing, path=path, **kw)
    saved = torch.load(path, weights_only=True)  # plain tensors and numbers
    assert saved["epoch"] == 2 and set(saved["bend"]) == set(a)
    resumed = train_curve(model, a, b, data, state=load_curve(path), path=path, **kw)
    assert resumed.epoch == 4 and resumed.history == whole.history
    for k in a:
        torch.testing.assert_close(resumed.bend[k], whole.bend[k], rtol=0, atol=0)
    assert load_curve(path).epoch == 4
    with pytest.raises(ValueError, match="lr 0.05 -> 0.1"):
        train_curve(model, a, b, data, state=load_curve(path), **{**kw, "lr": 0.1})


def test_the_curve_ends_are_the_two_models_with_bn_recomputed():
    model, data = make_tiny(0), make_tiny_data()
    other = make_tiny(1)
    a, b = get_params(model), get_params(other)
    bend = {k: 0.5 * (a[k] + b[k]) + 0.1 for k in a}
    values = evaluate_curve(model, a, bend, b, data, np.array([0.0, 1.0]), bn_data=data,
                            batch_size=16, device="cpu")
    for t, params in ((0, a), (1, b)):
        alone = evaluate_points(model, params, [{k: torch.ones_like(v) for k, v in a.items()}],
                                np.zeros((1, 1)), data, batch_size=16, bn_data=data)
        np.testing.assert_allclose(values.curve.loss[t], alone.loss[0], rtol=1e-10)
        np.testing.assert_allclose(values.line.loss[t], alone.loss[0], rtol=1e-10)
    assert set(values.columns()) >= {"t", "curve_loss", "line_loss", "curve_loss_se",
                                     "line_acc", "curve_acc_se"}
    # the model itself is left as it was
    for k, v in make_tiny(0).state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)


def test_bad_ends_are_refused():
    model, data = make_tiny(0), make_tiny_data()
    a = get_params(model)
    with pytest.raises(ValueError, match="same weights"):
        train_curve(model, a, a, data, epochs=1)
    b = {k: v for k, v in get_params(make_tiny(1)).items() if k != "fc.bias"}
    with pytest.raises(ValueError, match="different parameters"):
        train_curve(model, a, b, data, epochs=1)


def test_the_summary_names_the_largest_loss_and_the_barrier():
    model, data, a, b = _valley()
    t = np.linspace(0, 1, 5)
    values = evaluate_curve(model, a, {"w": torch.tensor([0.0, 1.0], dtype=torch.float64)}, b,
                            data, t, loss_fn=identity, device="cpu")
    summary = values.summary()
    # the line: (0 − 1 + x²)² with x = 2t − 1, largest at t = 0.5; ends at 0
    assert summary["line"] == {"max_loss": 1.0, "max_loss_se": 0.0, "t_of_max": 0.5,
                               "barrier": 1.0}
    # the curve with bend (0, 1): at t = 0.5 it is at (0, 0.5), loss 0.25
    assert summary["curve"]["max_loss"] == pytest.approx(max(values.curve.loss))
    assert summary["curve"]["barrier"] == pytest.approx(summary["curve"]["max_loss"])
