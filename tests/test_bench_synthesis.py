"""bench/synthesis.py end to end on its quick settings (tiny images, a few
steps): every row, the JSON, and the README table made from it."""

import json

from bench import readme, synthesis


def test_quick_synthesis_benchmark(tmp_path):
    output = tmp_path / "results_synthesis.json"
    rows = synthesis.run(quick=True, output=str(output))
    saved = json.loads(output.read_text())
    assert saved["quick"] and saved["rows"] == json.loads(json.dumps(rows))
    assert synthesis.default_output(True) != synthesis.default_output(False)  # quick never overwrites
    texture, inversion, style, visualised = rows[0], rows[1], rows[2], rows[-1]
    assert [row["test"].split(",")[0] for row in (texture, inversion, style, visualised)] == [
        "texture", "inversion", "style", "class visualisation"]
    assert all(row["verdict"] in ("met", "missed", "unclear (load)") and row["seconds"] > 0 for row in rows)
    # Even 8 steps at 32 px remove most of the style cost from noise.
    assert texture["figures"]["style_reduction"] > 0.95
    psnr = inversion["figures"]["psnr"]
    assert list(psnr) == list(synthesis.SETTINGS[True]["layers"])
    assert psnr["block1_conv2_relu"] > 30 > psnr["block3_conv3_relu"] + 5, psnr
    figures = style["figures"]
    assert figures["style_reduction"] > 0.5
    assert figures["content_vs_blank"] == figures["content_final"] / figures["content_of_blank"]
    assert 0 < figures["content_vs_blank"] < 1 and figures["content_of_brick"] < figures["content_of_blank"]
    probabilities = visualised["figures"]["probability"]
    assert len(probabilities) == 2 and all(0 <= p <= 1 for p in probabilities.values())

    table = readme.synthesis_table(saved)
    assert "quick settings" in table and "| texture, gravel 32 px, 8 steps | vgg16, random |" in table
    assert "figures" not in table  # nested numbers stay in the JSON


def test_time_verdicts_blame_the_load_only_when_idle_cores_could_meet_the_limit(monkeypatch):
    monkeypatch.setattr(synthesis.os, "cpu_count", lambda: 2)
    assert synthesis._time_verdict(True, 20.0, 39.0, 30.0) == "met"
    assert synthesis._time_verdict(True, 65.0, 39.0, 30.0) == "unclear (load)"  # 39 CPU s / 2 cores < 30
    assert synthesis._time_verdict(True, 65.0, 61.0, 30.0) == "missed"
    assert synthesis._time_verdict(False, 20.0, 39.0, 30.0) == "missed"
