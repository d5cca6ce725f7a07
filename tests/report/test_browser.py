"""The HTML report in a real headless Chromium: it renders (a screenshot that is not blank),
every image decodes, and the main table is there with its rows.

Skipped, with the reason, only where no Chromium is installed on a developer's machine; in CI
(``CI`` set, as ``.ci/run`` does) a missing Chromium is a failure.
"""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from sdt.report.build import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--allow-file-access-from-files", "--no-first-run", "--disable-extensions"]

# A page that loads the report in a frame and writes what it finds into its own DOM, which
# --dump-dom prints once every frame (and so every image) has loaded.
PROBE = """<!DOCTYPE html><html><body><pre id="result">not loaded</pre>
<iframe id="f" src="{src}" style="width:1200px;height:800px"></iframe>
<script>
document.getElementById("f").addEventListener("load", function () {{
  var d = this.contentDocument, out = {{}};
  var imgs = Array.from(d.images);
  out.images = imgs.length;
  out.broken = imgs.filter(function (i) {{ return !(i.complete && i.naturalWidth > 0); }})
                   .map(function (i) {{ return i.alt; }});
  var t = d.getElementById("main-table");
  out.rows = t ? Array.from(t.tBodies[0].rows).map(function (r) {{
    return r.cells[0].textContent; }}) : null;
  out.header = t ? Array.from(t.tHead.rows[0].cells).map(function (c) {{
    return c.textContent; }}) : null;
  out.sections = Array.from(d.querySelectorAll("h2")).map(function (h) {{
    return h.textContent; }});
  document.getElementById("result").textContent = JSON.stringify(out);
}});
</script></body></html>"""


def chromium() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("CI is set but no Chromium is installed (.ci/run installs the Debian "
                    "package chromium)")
    pytest.skip("no Chromium on this machine (apt-get install chromium); CI never skips this")


def run(browser, *args, timeout=90) -> str:
    out = subprocess.run([browser, *FLAGS, *args], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture(scope="module")
def browser():
    return chromium()


@pytest.fixture(scope="module")
def page(browser, synth, tmp_path_factory):
    _, url = synth
    folder = write_report("synthetic", url, tmp_path_factory.mktemp("html") / "report")
    return folder / "index.html"


def test_report_renders_in_chromium_with_every_image_and_the_main_table(browser, page,
                                                                       tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.format(src=page.resolve().as_uri()))
    dom = run(browser, "--dump-dom", probe.as_uri())
    found = json.loads(re.search(r'<pre id="result">(.*?)</pre>', dom, re.S).group(1))
    figures = len(list((page.parent / "figures").iterdir()))
    assert found["images"] == figures >= 4 and found["broken"] == []
    assert found["header"][:3] == ["method", "seeds", "crps"]
    assert found["rows"][0] == "greedy (baseline)" and len(found["rows"]) == 6
    assert found["sections"][:3] == ["Main table", "Against the baseline",
                                     "The claim: budget at which each candidate matches dts"]

    shot = tmp_path / "shot.png"
    run(browser, "--window-size=1280,1400", f"--screenshot={shot}", page.resolve().as_uri())
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1400, 1280)
    ink = (pixels.mean(axis=2) < 0.8).mean()  # share of pixels that are not near-white
    assert ink > 0.02 and float(np.std(pixels)) > 0.05, (ink, np.std(pixels))
