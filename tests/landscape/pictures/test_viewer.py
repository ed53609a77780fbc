"""The plotly viewer: figure structure, offline HTML, and a real headless Chromium render."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from landscape.engine.types import Surface
from landscape.pictures import viewer

CHROMIUM_VARIABLE = "LANDSCAPE_CHROMIUM"  # a Chromium binary, where none is on PATH
NO_CHROMIUM = (f"no Chromium found: install Debian's (`apt-get install chromium`; `make test` "
               f"does it when run as root) or set {CHROMIUM_VARIABLE} to a Chromium binary")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # WebGL without a GPU: SwiftShader through ANGLE (software GL)
    "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
BROWSER_WAIT_MS = 120_000  # per step; the whole test takes about 6 s on a quiet machine


def plane(a: float = 1.0, n: int = 15, ripple: float = 0.0, **meta) -> Surface:
    x = np.linspace(-1, 1, n)
    y = np.linspace(-1, 1, n + 2)  # not square, to catch a transposed z
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = a * (A ** 2 + 0.5 * B ** 2) + ripple * np.sin(9 * A) * np.sin(9 * B) + 0.05
    done = np.ones(loss.shape, bool)
    done[-3:, -3:] = False
    loss[~done] = np.nan
    loss[2, 3] = np.inf  # diverged
    return Surface(x=x, y=y, loss=loss, accuracy=100 * np.exp(-loss), done=done, meta=meta)


def line(n: int = 9) -> Surface:
    x = np.linspace(-1, 1, n)
    loss = 1 + 5 * x ** 2
    return Surface(x=x, y=None, loss=loss, accuracy=90 - loss, done=np.ones(n, bool))


def test_surface_figure_structure():
    s = plane(model="resnet56", skip=False, split="test")
    fig = viewer.surface_figure(s)
    (trace,) = fig.data
    assert trace.type == "surface"
    z = np.array(trace.z, dtype=float)  # None -> nan
    assert z.shape == (len(s.y), len(s.x))  # plotly: z[j][i] is at (x[i], y[j])
    np.testing.assert_allclose(z[4, 3], s.loss[3, 4])
    assert np.isnan(z[-1, -1]) and np.isnan(z[3, 2])  # not done, diverged: gaps
    assert trace.contours.z.show and trace.contours.z.project.z
    for part in ("α", "β", "loss", "accuracy"):
        assert part in trace.hovertemplate
    assert fig.layout.title.text == "resnet56, no skip: test loss"  # one title, not two
    assert not fig.layout.annotations
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["loss, linear z", "loss, log z", "accuracy, linear z", "accuracy, log z"]
    log_button = fig.layout.updatemenus[0].buttons[1]
    z_log = np.array(log_button.args[0]["z"][0], dtype=float)
    np.testing.assert_allclose(z_log[4, 3], np.log10(s.loss[3, 4]))
    assert log_button.args[1]["scene.zaxis.title.text"] == "loss (log scale)"
    assert fig.layout.updatemenus[0].active == 0  # 0.05 .. 1.6: not two decades, linear
    (star,) = fig.layout.scene.annotations
    assert star.text == "θ*" and (star.x, star.y) == (0, 0) and star.visible
    assert star.z == pytest.approx(s.loss[7, 8])  # θ* is at x[7], y[8]
    assert log_button.args[1]["scene.annotations"][0]["z"] == pytest.approx(
        np.log10(s.loss[7, 8]))


def test_log_scale_by_default_where_plot_picks_it_with_ticks_in_loss_units():
    """A loss spanning decades opens on a log z axis, as `plot` and `compare` draw it, and its
    ticks and colour bar read in loss units (0.1, 1, 10), not in log10 units (-1, 0, 1)."""
    steep = plane(a=2e3)  # 0.05 .. 3e3: 4.8 decades
    fig = viewer.surface_figure(steep)
    assert fig.layout.updatemenus[0].active == 1  # "loss, log z"
    z = fig.layout.scene.zaxis
    assert z.title.text == "loss (log scale)"
    assert fig.layout.coloraxis.colorbar.title.text == z.title.text
    assert list(z.ticktext) == ["0.1", "1", "10", "100", "1e3"]
    np.testing.assert_allclose(z.tickvals, [-1, 0, 1, 2, 3])
    assert list(fig.layout.coloraxis.colorbar.ticktext) == list(z.ticktext)
    assert fig.layout.scene.annotations[0].z == pytest.approx(np.log10(steep.loss[7, 8]))
    linear = fig.layout.updatemenus[0].buttons[0].args[1]
    assert linear["scene.zaxis.tickmode"] == "auto" and linear["scene.zaxis.title.text"] == "loss"
    forced = viewer.surface_figure(steep, log=False)
    assert forced.layout.updatemenus[0].active == 0
    assert forced.layout.scene.zaxis.title.text == "loss"
    assert viewer.compare_figure([plane(), steep]).layout.updatemenus[0].active == 1  # shared


def test_compare_figure_shares_scale_range_and_levels():
    a, b = plane(), plane(a=4.0, ripple=0.2)
    fig = viewer.compare_figure([a, b], ["skip", "no skip"], zmax=3.0)
    assert [t.name for t in fig.data] == ["skip", "no skip"]
    assert {t.coloraxis for t in fig.data} == {"coloraxis"}
    assert fig.layout.scene.zaxis.range == fig.layout.scene2.zaxis.range
    lo, hi = fig.layout.scene.zaxis.range
    assert hi == pytest.approx(3.0)  # zmax clips
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (lo, hi)
    assert fig.data[0].contours.z.size == fig.data[1].contours.z.size
    assert fig.data[0].scene == "scene" and fig.data[1].scene == "scene2"


def test_compare_figure_errors():
    with pytest.raises(ValueError, match="at least one"):
        viewer.compare_figure([])
    with pytest.raises(ValueError, match="labels must match"):
        viewer.compare_figure([plane()], ["a", "b"])
    with pytest.raises(ValueError, match="mixed"):
        viewer.compare_figure([plane(), line()])
    no_acc = Surface(x=line().x, y=None, loss=line().loss, accuracy=None, done=line().done)
    with pytest.raises(ValueError, match="accuracy"):
        viewer.surface_figure(no_acc, quantity="accuracy")


def test_line_figure():
    fig = viewer.compare_figure([line(), line(11)], ["a", "b"], log=True)
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    assert fig.layout.yaxis.type == "log"
    assert len(fig.layout.updatemenus[0].buttons) == 4


def test_write_html_is_offline_and_links_cameras(tmp_path: Path):
    fig = viewer.compare_figure([plane(), plane(2.0)])
    path = viewer.write_html(fig, tmp_path / "a" / "v.html")
    html = path.read_text(encoding="utf-8")
    assert path.stat().st_size > 3_000_000  # plotly.js is inside
    assert not re.search(r"<script[^>]+src=", html)  # nothing fetched
    assert "data-cameras-linked" in html
    single = viewer.write_html(viewer.surface_figure(plane()), tmp_path / "one.html")
    assert "data-cameras-linked" not in single.read_text(encoding="utf-8")
    assert re.search(r"<head><title>[^<]*</title>", html)
    named = viewer.compare_figure([plane(), plane(2.0)], ["a <b>&</b>", "b"])
    page = viewer.write_html(named, tmp_path / "named.html").read_text(encoding="utf-8")
    assert "<head><title>a &lt;b&gt;&amp;&lt;/b&gt; vs b</title>" in page


def find_chromium() -> str | None:
    """The Chromium binary for the browser test: $LANDSCAPE_CHROMIUM, else `chromium` on PATH."""
    chosen = os.environ.get(CHROMIUM_VARIABLE)
    if chosen:
        if not (Path(chosen).is_file() and os.access(chosen, os.X_OK)):
            raise FileNotFoundError(f"{CHROMIUM_VARIABLE}={chosen} is not an executable file; "
                                    f"point it at a Chromium binary or unset it")
        return chosen
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_find_chromium_follows_the_variable_then_the_path(tmp_path: Path, monkeypatch):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv(CHROMIUM_VARIABLE, str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.setenv(CHROMIUM_VARIABLE, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=f"{CHROMIUM_VARIABLE}=.*missing.*unset it"):
        find_chromium()
    monkeypatch.delenv(CHROMIUM_VARIABLE)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(fake)
    fake.unlink()
    assert find_chromium() is None


@contextlib.contextmanager
def plot_page(path: Path, errors: list[str], *, console: bool = False) -> Iterator[Any]:
    """The page `path` in headless Chromium, once its plot has drawn a canvas; its errors (and,
    with `console`, its console's errors) go into `errors`. Skips without Chromium or
    Playwright."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(NO_CHROMIUM)
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason='the playwright package is not installed: pip install -e ".[test]"')
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True,
                                    timeout=BROWSER_WAIT_MS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 640})
            page.set_default_timeout(BROWSER_WAIT_MS)
            page.on("pageerror", lambda err: errors.append(f"page error: {err}"))
            if console:
                page.on("console", lambda msg: errors.append(f"console: {msg.text}")
                        if msg.type == "error" else None)
            page.goto(path.as_uri())
            page.wait_for_function(
                "() => { const g = document.querySelector('.js-plotly-plot');"
                " return g && g._fullLayout && g.querySelectorAll('canvas').length > 0; }")
            yield page
        finally:
            browser.close()


def complete_plane(a: float = 1.0, n: int = 7, ripple: float = 0.0, **meta) -> Surface:
    """A small `plane` with every point done and finite.

    With a gap (NaN) in a surface, plotly's contour lines make software WebGL (SwiftShader)
    spend seconds on every frame; the page then took minutes to load and to answer. The gaps
    themselves are checked in `test_surface_figure_structure`.
    """
    x, y = np.linspace(-1, 1, n), np.linspace(-1, 1, n + 2)
    A, B = np.meshgrid(x, y, indexing="ij")
    loss = a * (A ** 2 + 0.5 * B ** 2) + ripple * np.sin(9 * A) * np.sin(9 * B) + 0.05
    return Surface(x=x, y=y, loss=loss, accuracy=100 * np.exp(-loss),
                   done=np.ones(loss.shape, bool), meta=meta)


@pytest.mark.browser
@pytest.mark.slow  # about 6 s when quiet: Chromium starts and parses 4.8 MB of plotly.js
def test_page_renders_in_headless_chromium(tmp_path: Path):
    from PIL import Image

    fig = viewer.compare_figure([complete_plane(model="resnet20", skip=True),
                                 complete_plane(a=400.0, ripple=0.2, model="resnet20",
                                                skip=False)])  # spans decades: log z
    page_path = viewer.write_html(fig, tmp_path / "view.html")
    errors: list[str] = []
    with plot_page(page_path, errors, console=True) as page:
        n_traces = page.evaluate("document.querySelector('.js-plotly-plot').data.length")
        webgl = page.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot canvas'))"
            ".filter(c => c.getContext('webgl') || c.getContext('experimental-webgl'))"
            ".length")
        # turning the first scene turns the second (the embedded camera link)
        eye_x = page.evaluate(
            "async () => { const g = document.querySelector('.js-plotly-plot');"
            " await Plotly.relayout(g, {'scene.camera': {eye: {x: 2.1, y: 0.4, z: 0.6}}});"
            " await new Promise(r => setTimeout(r, 200));"
            " return g.layout.scene2.camera.eye.x; }")
        title = page.title()
        # what the page says at first sight: one title, log z in loss units, θ* in each
        shown = page.evaluate(
            "() => { const g = document.querySelector('.js-plotly-plot');"
            " const texts = s => Array.from(g.querySelectorAll(s)).map(e => e.textContent);"
            " return {title: texts('.gtitle'), z: g._fullLayout.scene.zaxis.title.text,"
            " ticks: texts('.colorbar .ycbcoloraxistick text'),"
            " zticks: g._fullLayout.scene.zaxis.ticktext,"
            " bar: g._fullLayout.coloraxis.colorbar.title.text,"
            " notes: texts('.annotation-text')}; }")
        shot = page.screenshot()
        # the menu switches every panel to linear z
        page.click(".updatemenu-header")
        page.click(".updatemenu-dropdown-button:has-text('loss, linear z')")
        z_title = page.evaluate(
            "document.querySelector('.js-plotly-plot').layout.scene2.zaxis.title.text")
    (tmp_path / "shot.png").write_bytes(shot)
    assert errors == []
    assert n_traces == 2
    assert webgl >= 1
    assert eye_x == pytest.approx(2.1)
    assert title == "resnet20: train loss vs resnet20, no skip: train loss"
    assert shown["title"] == ["Loss landscapes, side by side"]
    assert shown["z"] == shown["bar"] == "loss (log scale)"
    assert {"0.1", "1", "10", "100"} <= set(shown["ticks"]), shown["ticks"]  # colour bar
    assert shown["zticks"] == shown["ticks"]  # and the z axis (drawn by WebGL, not in the DOM)
    assert [t for t in shown["notes"] if t == "θ*"] == ["θ*", "θ*"], shown["notes"]
    assert z_title == "loss"
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=float)
    assert pixels.std() > 10, "the screenshot is blank"
    left_scene = pixels[150:600, 40:500]
    colourful = (left_scene.max(axis=2) - left_scene.min(axis=2)) > 60
    assert colourful.mean() > 0.02, "no coloured surface was drawn in the first scene"


@pytest.mark.browser
@pytest.mark.slow  # Chromium starts and parses plotly.js
def test_the_pair_menu_switches_the_surface_in_chromium(tmp_path: Path):
    pairs = [complete_plane(seed=0), complete_plane(a=4.0, ripple=0.2, seed=1)]
    page_path = viewer.write_html(viewer.compare_figure([pairs], ["e"]), tmp_path / "e.html")
    errors: list[str] = []
    with plot_page(page_path, errors) as page:
        page.click(".updatemenu-header:has-text('direction pair 1 of 2')")
        page.click(".updatemenu-dropdown-button:has-text('direction pair 2 of 2')")
        shown = page.evaluate("document.querySelector('.js-plotly-plot').data"
                              ".map(t => t.visible !== false)")
        page.click(".updatemenu-header:has-text('loss, linear z')")
        page.click(".updatemenu-dropdown-button:has-text('loss, log z')")
        z = page.evaluate("document.querySelector('.js-plotly-plot').data[1].z[4][3]")
    assert errors == []
    assert shown == [False, True]
    assert z == pytest.approx(np.log10(pairs[1].loss[3, 4]))  # the log view reaches pair 2


def test_an_ensemble_shows_its_first_pair_and_a_menu_shows_the_others():
    first, second = plane(), plane(a=4.0)
    first.meta["seed"], second.meta["seed"] = 0, 1
    fig = viewer.compare_figure([[first, second], plane(a=2.0)], ["e", "one"])
    assert [(t.name, t.visible, t.scene) for t in fig.data] == [
        ("e", None, "scene"), ("one", None, "scene2"), ("e, pair 2", False, "scene")]
    np.testing.assert_allclose(np.array(fig.data[2].z, dtype=float)[4, 3], second.loss[3, 4])
    views, pairs = fig.layout.updatemenus
    assert [b.label for b in pairs.buttons] == ["direction pair 1 of 2, seed 0",
                                                "direction pair 2 of 2, seed 1"]
    # pair 2 in the panel that has it; the other panel keeps its only pair
    assert pairs.buttons[1].args[0]["visible"] == [False, True, True]
    # the view menu switches every pair, on a range that spans them all
    restyle, relayout = views.buttons[1].args
    assert len(restyle["z"]) == 3
    np.testing.assert_allclose(np.array(restyle["z"][2], dtype=float)[4, 3],
                               np.log10(second.loss[3, 4]))
    top = max(np.max(s.loss[np.isfinite(s.loss)]) for s in (first, second))
    assert relayout["scene.zaxis.range"][1] == pytest.approx(np.log10(top))
    assert fig.layout.scene.zaxis.range[1] == pytest.approx(top)  # the view shown first
