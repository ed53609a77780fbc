import json

from click.testing import CliRunner

from cli.main import cli
from landscape import load_surface


def test_demo_runs_end_to_end_on_tiny_settings(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "-o", str(out), "--depth", "20", "--width", "0.125", "--epochs", "1",
            "--train-samples", "64", "--eval-samples", "16", "--grid", "3"]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    for name in ("resnet20", "resnet20-noskip"):
        s = load_surface(out / f"{name}.h5")
        assert s.shape == (3, 3) and s.done.all()
        assert s.meta["skip"] is (name == "resnet20")
        assert (out / name / "final.pt").exists()
        assert (out / "pictures" / f"{name}_contour_log.png").exists()
    numbers = json.loads((out / "compare" / "compare.json").read_text())
    assert "ResNet-20" in json.dumps(numbers)
    for f in ("compare.png", "compare.html", "compare.md"):
        assert (out / "compare" / f).stat().st_size > 0
    assert "compare.html" in r.output

    again = CliRunner().invoke(cli, args + ["--resume"], catch_exceptions=False)
    assert again.exit_code == 0 and "reusing" in again.output
