"""Interactive pictures of surfaces with plotly: a 3-D surface with its contours projected on
the floor, θ* marked, hover values, a menu to switch loss / accuracy and linear / log z (log
first where `plot` would choose it, with ticks in loss units), side-by-side comparisons on
one colour scale with cameras that move together, and for an ensemble of direction pairs a
second menu that shows pair k in every panel.

`surface_figure` and `compare_figure` build a `plotly.graph_objects.Figure` and never write it;
`write_html` writes one self-contained HTML file (plotly.js embedded, nothing fetched, works
offline) and adds the small script that links the cameras. plotly is imported inside the
functions so that `import landscape` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from landscape.engine.types import Surface, log10_positive
from landscape.pictures.scales import (
    resolve_log,
    round_log_levels,
    short_number,
    surface_anchors,
    title_of,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["surface_figure", "compare_figure", "write_html", "LINK_CAMERAS_JS"]

_COLORSCALE = "Viridis"

LINK_CAMERAS_JS = """
(function () {
  var gd = document.getElementById('{plot_id}');
  if (!gd || !gd.on || !window.Plotly) { return; }
  var busy = false;
  function scenes() {
    return Object.keys(gd._fullLayout || {}).filter(function (k) { return /^scene\\d*$/.test(k); });
  }
  function same(c) {
    var parts = [];
    ['eye', 'center', 'up'].forEach(function (p) {
      var v = (c && c[p]) || {};
      ['x', 'y', 'z'].forEach(function (a) { parts.push(Number(v[a] || 0).toFixed(5)); });
    });
    return parts.join(',');
  }
  function follow(ev) {
    if (busy || !ev) { return; }
    var source = null, camera = null;
    Object.keys(ev).forEach(function (k) {
      var m = k.match(/^(scene\\d*)\\.camera$/);
      if (m) { source = m[1]; camera = ev[k]; }
    });
    if (!camera) { return; }
    var update = {}, key = same(camera);
    scenes().forEach(function (s) {
      // only scenes not already there: no echo back and forth between the scenes
      if (s !== source && same(gd._fullLayout[s].camera) !== key) {
        update[s + '.camera'] = camera;
      }
    });
    if (!Object.keys(update).length) { return; }
    busy = true;
    Plotly.relayout(gd, update).then(function () { busy = false; }, function () { busy = false; });
  }
  gd.on('plotly_relayouting', follow);
  gd.on('plotly_relayout', follow);
  gd.setAttribute('data-cameras-linked', String(scenes().length));
})();
"""
"""JavaScript for `write_html(post_script=...)`: moving one 3-D scene's camera moves the others."""


# --------------------------------------------------------------------------- values per view

def _views(surfaces: Sequence[Surface]) -> list[tuple[str, bool]]:
    quantities = ["loss"]
    if all(s.accuracy is not None for s in surfaces):
        quantities.append("accuracy")
    return [(q, lg) for q in quantities for lg in (False, True)]


def _values(surface: Surface, quantity: str, log: bool, zmax: float | None) -> np.ndarray:
    """The drawn values (shape of the surface): clipped, log10 if asked, NaN where undrawable."""
    v = surface.values(quantity)
    v = np.where(np.isfinite(v), v, np.nan)  # diverged points stay gaps, even under zmax
    if zmax is not None and quantity == "loss":
        v = np.minimum(v, zmax)
    return log10_positive(v) if log else v


def _as_list(a: np.ndarray) -> list[Any]:
    """Nested lists with None for NaN (JSON has no NaN; plotly leaves a gap)."""
    return np.where(np.isfinite(a), a, None).tolist()


def _range(arrays: Sequence[np.ndarray]) -> tuple[float, float] | None:
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [f for f in finite if f.size]
    if not finite:
        return None
    lo = float(min(f.min() for f in finite))
    hi = float(max(f.max() for f in finite))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def _html_text(text: str) -> str:
    """`text` shown literally by plotly: no markup (<b>, <a>), no $...$ math, no controls."""
    text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("$", "&#36;"))


def _axis_title(quantity: str, log: bool) -> str:
    base = "accuracy (%)" if quantity == "accuracy" else "loss"
    return f"{base} (log scale)" if log else base


def _log_ticks(rng: tuple[float, float] | None, log: bool) -> dict[str, Any]:
    """Axis and colour bar ticks: on a log view (values are log10) at round values labelled in
    the quantity's own units (0.1, 1, 10 or 0.1, 0.2, 0.5), else plotly's own."""
    if not log or rng is None:
        return {"tickmode": "auto", "tickvals": None, "ticktext": None}
    lo, hi = 10.0 ** rng[0], 10.0 ** rng[1]
    values = round_log_levels(lo, hi)
    if values.size > 8:  # many decades: whole decades only
        decades = values[np.isclose(np.log10(values), np.round(np.log10(values)))]
        values = decades if decades.size >= 2 else values
    return {"tickmode": "array", "tickvals": np.log10(values).tolist(),
            "ticktext": [short_number(v) for v in values]}


def _anchor_notes(surface: Surface, z: np.ndarray) -> list[dict[str, Any]]:
    """The labels of a 3-D scene (z in the z[j][i] layout): an arrow to θ* on the surface, or
    to each checkpoint of a plane through three; none for a point off the grid or without a
    value."""
    notes = []
    for anchor in surface_anchors(surface):
        if anchor.index is None:
            continue
        i, j = anchor.index
        if np.isfinite(z[j][i]):
            notes.append(_note(anchor.alpha, anchor.beta, float(z[j][i]), anchor.label))
    return notes


def _note(alpha: float, beta: float, height: float, text: str) -> dict[str, Any]:
    return {"x": alpha, "y": beta, "z": height, "text": _html_text(text), "visible": True,
            "showarrow": True, "arrowhead": 2, "arrowsize": 1, "arrowwidth": 1.5,
            "arrowcolor": "black", "ax": 0, "ay": -40, "font": {"size": 15, "color": "black"},
            "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "black", "borderwidth": 1}


def _view_label(quantity: str, log: bool) -> str:
    return f"{quantity}, {'log' if log else 'linear'} z"


# --------------------------------------------------------------------------- figures

def surface_figure(surface: Surface, *, quantity: str = "loss", log: bool | None = None,
                   zmax: float | None = None, title: str | None = None) -> go.Figure:
    """An interactive 3-D surface of one `Surface` (a line chart for a 1-D one).

    The surface carries its contour lines, projected on the floor of the scene too; hovering
    shows α, β, loss and accuracy; a menu switches between loss and accuracy, linear and log10
    z. Points not computed or diverged are gaps.

    Args:
        surface: 1-D or 2-D surface.
        quantity: 'loss' or 'accuracy', the view shown first.
        log: start with log10 z (ticks in the quantity's units); None (default) chooses as
            `plot` does: log when the values span more than two decades.
        zmax: loss values above it are drawn as `zmax`.
        title: overrides the title made from `surface.meta`.

    Returns:
        The figure; nothing is written or shown (see `write_html`).
    """
    label = title if title is not None else title_of(surface)
    return compare_figure([surface], [label], quantity=quantity, log=log, zmax=zmax)


def compare_figure(surfaces: Sequence[Surface | Sequence[Surface]],
                   labels: Sequence[str] | None = None, *, quantity: str = "loss",
                   log: bool | None = None, zmax: float | None = None) -> go.Figure:
    """Surfaces side by side in one figure: one colour scale, one z range, linked cameras.

    2-D surfaces get one 3-D scene each, all sharing the colour axis and the z range of the
    view shown (so equal heights and colours mean equal values); `write_html` links their
    cameras. 1-D surfaces are drawn as lines on one chart. The menu switches every panel at
    once.

    An entry of `surfaces` may be an ensemble (its direction pairs, first pair first, all on
    one grid): its panel shows the first pair, and a second menu ("direction pair k") shows
    pair k in every panel that has one (its last pair in a panel that has fewer). The colour
    scale and z range then span every pair.

    Args:
        surfaces: one or more surfaces (or ensembles), all 1-D or all 2-D.
        labels: a title per surface (default: from each surface's meta).
        quantity, log, zmax: as in `surface_figure`.

    Raises:
        ValueError: no surfaces, mixed 1-D and 2-D, labels of the wrong length, an unknown
            quantity, or accuracy asked of a surface without it.
    """
    panels = [[s] if isinstance(s, Surface) else list(s) for s in surfaces]
    if not panels or not all(panels):
        raise ValueError("compare_figure needs at least one surface, got none")
    surfaces = [pairs[0] for pairs in panels]
    if labels is None:
        labels = [title_of(s) for s in surfaces]
    page_title = " vs ".join(str(v) for v in labels)
    labels = [_html_text(str(v)) for v in labels]
    if len(labels) != len(surfaces):
        raise ValueError(f"labels must match the surfaces: {len(surfaces)} surfaces, "
                         f"got {len(labels)} labels")
    if len({s.ndim for pairs in panels for s in pairs}) > 1:
        raise ValueError("compare_figure needs surfaces of one kind, got 1-D and 2-D mixed")
    if quantity not in ("loss", "accuracy"):
        raise ValueError(f"quantity must be 'loss' or 'accuracy', got {quantity!r}")
    if quantity == "accuracy" and not all(s.accuracy is not None for s in surfaces):
        raise ValueError("accuracy was asked for, but not every surface has accuracy")
    if log is None:  # the scale `plot` and `compare` pick for these values
        log = resolve_log(surfaces, "loss" if surfaces[0].ndim == 1 else quantity, None,
                          zmax if quantity == "loss" else None)[0]
    views = _views([s for pairs in panels for s in pairs])
    if (quantity, log) not in views:
        raise ValueError("accuracy was asked for, but not every surface has accuracy")
    first = views.index((quantity, log))
    draw = _lines_figure if surfaces[0].ndim == 1 else _scenes_figure
    fig = draw(surfaces, labels, views, first, zmax)
    if max(len(pairs) for pairs in panels) > 1:
        _add_pairs(fig, panels, labels, views, first, zmax)
    fig.update_layout(meta={"page_title": page_title})  # `write_html` makes it the <title>
    return fig


def _customdata(surface: Surface, transpose: bool) -> list[Any]:
    loss = np.where(np.isfinite(surface.loss) & surface.has_value, surface.loss, np.nan)
    acc = (surface.values("accuracy") if surface.accuracy is not None
           else np.full(surface.shape, np.nan))
    se = surface.extras.get(f"{surface.split}_loss_se", np.full(surface.shape, np.nan))
    se = np.where(surface.done, se, np.nan)
    filled = surface.filled.astype(float)  # 1: interpolated by a coarse-to-fine run
    data = np.stack([loss, acc, se, filled], axis=-1)
    if transpose:
        data = data.transpose(1, 0, 2)
    return _as_list(data)


def _hover(surface: Surface, two_d: bool) -> str:
    lines = ["α = %{x:.4g}"]
    if two_d:
        lines.append("β = %{y:.4g}")
    lines.append("loss = %{customdata[0]:.5g}")
    if f"{surface.split}_loss_se" in surface.extras:
        lines[-1] += " ± %{customdata[2]:.2g} (standard error)"
    if surface.filled.any():
        lines.append("interpolated (not computed): %{customdata[3]:.0f}")
    if surface.accuracy is not None:
        lines.append("accuracy = %{customdata[1]:.2f}%")
    return "<br>".join(lines) + "<extra>%{fullData.name}</extra>"


def _scenes_figure(surfaces: list[Surface], labels: list[str], views: list[tuple[str, bool]],
                   first: int, zmax: float | None) -> go.Figure:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = len(surfaces)
    fig = make_subplots(rows=1, cols=n, specs=[[{"type": "scene"}] * n],
                        subplot_titles=labels if n > 1 else None, horizontal_spacing=0.02)
    # per view: the z of each surface (plotly wants z[j][i] at (x[i], y[j])) and the common range
    z_views = [[_values(s, q, lg, zmax if q == "loss" else None).T for s in surfaces]
               for q, lg in views]
    # paths a surface carries (e.g. the trained curve and the line of `landscape connect`),
    # drawn on it at their own loss (hidden in the accuracy views), inside the z range
    paths = [(k, label, path) for k, s in enumerate(surfaces)
             for label, path in _loss_paths(s).items()]
    ranges = [_range(zs + [_path_z(path, q, lg) for _, _, path in paths])
              for zs, (q, lg) in zip(z_views, views, strict=True)]

    if ranges[first] is None:
        raise ValueError("nothing to draw: no computed, finite values on the surfaces")
    q0, lg0 = views[first]
    lo0, hi0 = ranges[first]
    for k, (s, label) in enumerate(zip(surfaces, labels, strict=True)):
        fig.add_trace(go.Surface(
            x=np.asarray(s.x, dtype=float).tolist(), y=np.asarray(s.y, dtype=float).tolist(),
            z=_as_list(z_views[first][k]), name=label, coloraxis="coloraxis",
            customdata=_customdata(s, transpose=True), hovertemplate=_hover(s, True),
            contours={"z": {"show": True, "usecolormap": True, "project": {"z": True},
                            "width": 1, **_levels(lo0, hi0)}},
            connectgaps=False,
        ), row=1, col=k + 1)
    for i, (k, label, path) in enumerate(paths):
        fig.add_trace(go.Scatter3d(
            x=path["x"], y=path["y"], z=_as_list(_path_z(path, *views[first])), name=label,
            mode="lines+markers", line={"color": ("crimson", "black")[i % 2], "width": 6},
            marker={"size": 2, "color": ("crimson", "black")[i % 2]}, showlegend=True,
            hovertemplate=f"{_html_text(label)}<br>α = %{{x:.3g}}<br>β = %{{y:.3g}}<br>"
                          f"%{{z:.4g}}<extra></extra>"), row=1, col=k + 1)
    if paths:
        fig.update_layout(legend={"x": 0.01, "y": 0.01, "bgcolor": "rgba(255,255,255,0.7)"})
    path_z = [[_as_list(_path_z(path, q, lg)) for _, _, path in paths] for q, lg in views]
    scene = {"xaxis": {"title": {"text": "α"}}, "yaxis": {"title": {"text": "β"}},
             "aspectmode": "manual", "aspectratio": {"x": 1, "y": 1, "z": 0.7},
             "camera": {"eye": {"x": 1.45, "y": 1.45, "z": 0.9}}}
    stars = [[_anchor_notes(s, z) for s, z in zip(surfaces, zs, strict=True)] for zs in z_views]
    ticks0 = _log_ticks(ranges[first], lg0)
    for k in range(n):
        name = "scene" if k == 0 else f"scene{k + 1}"
        fig.layout[name].update(scene)
        fig.layout[name].zaxis.update(range=[lo0, hi0], title={"text": _axis_title(q0, lg0)},
                                      **ticks0)
        fig.layout[name].annotations = stars[first][k]
    title = labels[0] if n == 1 else "Loss landscapes, side by side"
    fig.update_layout(
        coloraxis={"colorscale": _COLORSCALE, "cmin": lo0, "cmax": hi0,
                   "colorbar": {"title": {"text": _axis_title(q0, lg0)}, **ticks0}},
        title={"text": title, "x": 0.5},
        margin={"l": 10, "r": 10, "t": 90, "b": 10}, height=620,
        updatemenus=[_menu(views, first, [_scene_restyle(zs, r, pz) for zs, r, pz in
                                          zip(z_views, ranges, path_z, strict=True)],
                           [_scene_relayout(n, q, lg, r, st) for (q, lg), r, st
                            in zip(views, ranges, stars, strict=True)])],
    )
    return fig


def _levels(lo: float, hi: float, count: int = 16) -> dict[str, float]:
    """The same contour levels for every panel (plotly would choose them per trace)."""
    size = (hi - lo) / count
    return {"start": lo + size / 2, "end": hi - size / 2, "size": size}


def _scene_restyle(zs: list[np.ndarray], rng: tuple[float, float] | None,
                   paths: list[list[Any]] | None = None) -> dict[str, Any]:
    paths = paths or []
    out: dict[str, Any] = {"z": [_as_list(z) for z in zs] + paths}
    if rng is not None:
        for key, value in _levels(*rng).items():  # (the paths' traces have no contours)
            out[f"contours.z.{key}"] = [value] * len(zs) + [None] * len(paths)
    return out


def _loss_paths(surface: Surface) -> dict[str, dict[str, list[float]]]:
    """The surface's paths (meta `paths`) that carry their loss, to be drawn in 3-D."""
    raw = surface.meta.get("paths")
    out: dict[str, dict[str, list[float]]] = {}
    if isinstance(raw, dict):
        for label, path in raw.items():
            try:
                x, y, loss = (np.asarray(path[k], dtype=float) for k in ("x", "y", "loss"))
            except (KeyError, TypeError, ValueError):
                continue
            if x.shape == y.shape == loss.shape and x.ndim == 1:
                out[str(label)] = {"x": x.tolist(), "y": y.tolist(), "loss": loss.tolist()}
    return out


def _path_z(path: dict[str, list[float]], quantity: str, log: bool) -> np.ndarray:
    loss = np.asarray(path["loss"], dtype=float)
    if quantity != "loss":
        return np.full(loss.shape, np.nan)
    return log10_positive(loss) if log else loss


def _scene_relayout(n: int, quantity: str, log: bool, rng: tuple[float, float] | None,
                    stars: list[list[dict[str, Any]]]) -> dict[str, Any]:
    lo, hi = rng if rng is not None else (0.0, 1.0)
    ticks = _log_ticks(rng, log)
    out: dict[str, Any] = {"coloraxis.cmin": lo, "coloraxis.cmax": hi,
                           "coloraxis.colorbar.title.text": _axis_title(quantity, log)}
    out.update({f"coloraxis.colorbar.{key}": value for key, value in ticks.items()})
    for k in range(n):
        name = "scene" if k == 0 else f"scene{k + 1}"
        out[f"{name}.zaxis.range"] = [lo, hi]
        out[f"{name}.zaxis.title.text"] = _axis_title(quantity, log)
        out.update({f"{name}.zaxis.{key}": value for key, value in ticks.items()})
        out[f"{name}.annotations"] = stars[k]
    return out


def _menu(views: list[tuple[str, bool]], first: int, restyles: list[dict[str, Any]],
          relayouts: list[dict[str, Any]]) -> dict[str, Any]:
    buttons = [{"label": _view_label(q, lg), "method": "update", "args": [rs, rl]}
               for (q, lg), rs, rl in zip(views, restyles, relayouts, strict=True)]
    return {"type": "dropdown", "buttons": buttons, "active": first, "x": 0.0, "y": 1.12,
            "xanchor": "left", "yanchor": "top", "showactive": True}


def _lines_figure(surfaces: list[Surface], labels: list[str], views: list[tuple[str, bool]],
                  first: int, zmax: float | None) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure()
    y_views = [[_values(s, q, False, zmax if q == "loss" else None) for s in surfaces]
               for q, _ in views]
    for k, (s, label) in enumerate(zip(surfaces, labels, strict=True)):
        fig.add_trace(go.Scatter(
            x=np.asarray(s.x, dtype=float).tolist(), y=_as_list(y_views[first][k]),
            mode="lines+markers", name=label, customdata=_customdata(s, transpose=False),
            hovertemplate=_hover(s, False), connectgaps=False,
        ))
    q0, lg0 = views[first]
    fig.update_layout(
        xaxis={"title": {"text": "α"}, "zeroline": True},
        yaxis={"title": {"text": _axis_title(q0, False)}, "type": "log" if lg0 else "linear"},
        title={"text": labels[0] if len(surfaces) == 1 else "Loss along lines", "x": 0.5},
        height=520, margin={"t": 90},
        updatemenus=[_menu(views, first, [{"y": [_as_list(y) for y in ys]} for ys in y_views],
                           [{"yaxis.type": "log" if lg else "linear",
                             "yaxis.title.text": _axis_title(q, False)} for q, lg in views])],
    )
    return fig


# --------------------------------------------------------------------------- ensembles

def _add_pairs(fig: go.Figure, panels: list[list[Surface]], labels: list[str],
               views: list[tuple[str, bool]], first: int, zmax: float | None) -> None:
    """Add each panel's pairs after the first as hidden copies of its trace (the first
    `len(panels)` traces), extend the view menu to them (over every pair's range), and add
    the menu that shows pair k."""
    two_d = panels[0][0].ndim == 2
    key = "z" if two_d else "y"
    owners: list[tuple[int, int] | None] = [(k, 0) for k in range(len(panels))]
    owners += [None] * (len(fig.data) - len(panels))  # other traces stay as they are
    for k, pairs in enumerate(panels):
        for p, s in enumerate(pairs[1:], start=1):
            trace = type(fig.data[k])(fig.data[k])
            trace.update({key: _as_list(_pair_values(s, *views[first], zmax, two_d)),
                          "customdata": _customdata(s, transpose=two_d),
                          "name": f"{labels[k]}, pair {p + 1}", "visible": False})
            fig.add_trace(trace)
            owners.append((k, p))
    menu = fig.layout.updatemenus[0]
    for v, (q, lg) in enumerate(views):
        restyle, relayout = menu.buttons[v].args
        restyle = dict(restyle)
        restyle[key] = list(restyle[key]) + [
            _as_list(_pair_values(panels[k][p], q, lg, zmax, two_d))
            for k, p in (o for o in owners[len(panels):] if o is not None)]
        if two_d:
            rng = _range([np.array(z, dtype=float) for z in restyle["z"]]) or (0.0, 1.0)
            for name, value in _levels(*rng).items():
                restyle[f"contours.z.{name}"] = [value if o is not None else None
                                                 for o in owners]
            kept = {k: value for k, value in relayout.items() if k.endswith(".annotations")}
            relayout = {**_scene_relayout(len(panels), q, lg, rng, [[] for _ in panels]),
                        **kept}  # the θ* marks stay: every pair shares θ*
            if v == first:
                _apply_range(fig, owners, len(panels), rng, lg)
        menu.buttons[v].args = [restyle, relayout]
    count = max(len(pairs) for pairs in panels)
    buttons = [{"label": _pair_label(panels, p, count), "method": "restyle",
                "args": [{"visible": [o is None or o[1] == min(p, len(panels[o[0]]) - 1)
                                      for o in owners]}]} for p in range(count)]
    fig.update_layout(updatemenus=[*fig.layout.updatemenus, {
        "type": "dropdown", "buttons": buttons, "active": 0, "x": 0.22, "y": 1.12,
        "xanchor": "left", "yanchor": "top", "showactive": True}])


def _pair_values(surface: Surface, quantity: str, log: bool, zmax: float | None,
                 two_d: bool) -> np.ndarray:
    # a line takes its log from the axis type, a 3-D scene from log10 values
    values = _values(surface, quantity, log and two_d, zmax if quantity == "loss" else None)
    return values.T if two_d else values


def _pair_label(panels: list[list[Surface]], p: int, count: int) -> str:
    seeds = {pairs[p].meta.get("seed") for pairs in panels if len(pairs) > p} - {None}
    seed = f", seed {seeds.pop()}" if len(seeds) == 1 else ""
    return f"direction pair {p + 1} of {count}{seed}"


def _apply_range(fig: go.Figure, owners: list[tuple[int, int] | None], n: int,
                 rng: tuple[float, float], log: bool) -> None:
    """The shown view's colour scale, z ranges, ticks and contour levels, over every pair."""
    lo, hi = rng
    ticks = _log_ticks(rng, log)
    fig.layout.coloraxis.update(cmin=lo, cmax=hi)
    fig.layout.coloraxis.colorbar.update(**ticks)
    for k in range(n):
        fig.layout["scene" if k == 0 else f"scene{k + 1}"].zaxis.update(range=[lo, hi], **ticks)
    for trace, owner in zip(fig.data, owners, strict=True):
        if owner is not None:
            trace.contours.z.update(**_levels(lo, hi))


# --------------------------------------------------------------------------- writing

def _scene_count(fig: go.Figure) -> int:
    return sum(1 for key in fig.layout.to_plotly_json() if key.startswith("scene"))


def write_html(fig: go.Figure, path: str | Path, *, link_cameras: bool | None = None) -> Path:
    """Write `fig` as one self-contained HTML file that works offline.

    plotly.js is embedded (about 4.8 MB), so nothing is fetched when the page opens.

    Args:
        fig: a plotly figure, e.g. from `surface_figure` or `compare_figure`.
        path: the HTML file to write (parent folders are created).
        link_cameras: add `LINK_CAMERAS_JS` so that turning one 3-D scene turns the others
            (default: when the figure has two or more scenes).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if link_cameras is None:
        link_cameras = _scene_count(fig) >= 2
    html = fig.to_html(include_plotlyjs=True, full_html=True,
                       post_script=LINK_CAMERAS_JS if link_cameras else None,
                       config={"displaylogo": False, "responsive": True})
    title = _page_title(fig)
    html = html.replace("<head>", f"<head><title>{title}</title>", 1)
    path.write_text(html, encoding="utf-8")
    return path


def _page_title(fig: go.Figure) -> str:
    """The page's <title>, escaped: the surfaces' labels (`compare_figure` records them), else
    the figure's title."""
    import html

    meta = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    text = meta.get("page_title") or fig.layout.title.text or "Loss landscape"
    shown = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return html.escape(shown, quote=False)
