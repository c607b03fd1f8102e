"""The HTML report: built from state only, every section present, rendered by headless Chromium
with a screenshot and no console errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connector.config import load_config
from connector.pipeline import run_cycle
from connector.report import render_report, write_report
from connector.state import StateStore
from connector.steps.insight import ARTIFACT
from experiments.analysis import analyse_experiment
from experiments.spec import ArmSpec, ExperimentSpec

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECRET = "pat-na1-report-secret-0042"


@pytest.fixture(scope="module")
def report_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(3)
    n = 600
    rows = []
    for c in range(n):
        k = 1 + rng.poisson(2 if c % 3 else 6)
        for _ in range(k):
            day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(rng.integers(0, 700)))
            rows.append((f"C{c:04d}", round(float(rng.gamma(2, 20 if c % 2 else 60)), 2), day.strftime("%Y-%m-%d")))
    rows.append(("C0001", "-5", "2025-03-01"))  # quarantined with a reason
    pd.DataFrame(rows, columns=["CustomerID", "amount", "date"]).to_csv(tmp / "tx.csv", index=False)
    cfg_path = tmp / "segsync.yaml"
    cfg_path.write_text(
        "state: {path: s.sqlite}\nsources:\n  files: {transactions: tx.csv}\ndestinations:\n  files: {path: out.csv}\n"
        "segmentation: {method: kmeans, k: 3}\nscoring:\n  targets: [{name: buy_60d, kind: propensity, horizon_days: 60}]\n"
        "  cutoffs: 3\nexperiments:\n  items:\n    - key: exp1\n      arms: [{name: control, weight: 0.5, control: true}, {name: treatment, weight: 0.5}]\n"
        "sources_extra: null\n".replace("sources_extra: null\n", "")
    )
    cfg = load_config(cfg_path, env={})
    with StateStore(tmp / "s.sqlite", redact=[SECRET]) as store:
        result = run_cycle(cfg, store)
        assert result.status == "succeeded", result.error
        arms = store.experiments.arms("exp1")
        # outcomes with a planted effect, so the forest plot has intervals to draw
        treated = arms["arm"] == "treatment"
        buy = rng.random(len(arms)) < np.where(treated, 0.30, 0.15)
        outcomes = pd.DataFrame({"experiment": "exp1", "customer_id": arms["customer_id"][buy], "metric": "revenue", "value": 25.0,
                                 "observed_at": pd.to_datetime(arms["assigned_at"][buy], utc=True) + pd.Timedelta(days=2)})
        spec = ExperimentSpec(key="exp1", arms=(ArmSpec("control", 0.5, True), ArmSpec("treatment", 0.5)), cuped_days=0)
        store.experiments.save_lift(result.run_id, "exp1", analyse_experiment(arms, outcomes, spec, sequential_tuning=len(arms)))
        store.rejected.add(result.run_id, "push", "hubspot", [{"record_key": "c1", "reason": f"token {SECRET} refused"}])
    path = write_report(cfg, tmp / "report")
    return tmp, path


def test_report_has_every_section_and_no_secret(report_env: tuple[Path, Path]) -> None:
    _, path = report_env
    html = path.read_text()
    for heading in ("Marketing summary: one action per segment", "Segments (kmeans)", "Priority matrix", "RFM grid",
                    "Migration between runs", "Score models", "Experiments: lift per segment", "Runs", "Rejected rows (2 open)"):
        assert heading in html, heading
    assert html.count("<svg") >= 4  # sizes, RFM grid, calibration, forest plot
    assert "Suggested action:" in html and "conversion lift" in html
    assert "amount is negative (-5.0)" in html
    assert "No sample ratio mismatch." in html
    assert SECRET not in html and "token ********** refused" in html
    assert not re.search(r"<script|https?://(?!www\.w3\.org)", html), "the report must be self-contained"


def test_report_without_runs_says_what_to_do(tmp_path: Path) -> None:
    cfg_path = tmp_path / "segsync.yaml"
    cfg_path.write_text("state: {path: s.sqlite}\n")
    cfg = load_config(cfg_path, env={})
    with StateStore(tmp_path / "s.sqlite") as store:
        html = render_report(store, cfg)
    assert "No segmentation has been saved yet: run <code>segsync run</code> first." in html


def _chromium(url: str, out: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp / 'chrome-profile'}", "--enable-logging=stderr", "--v=0",
         "--window-size=1200,2400", f"--screenshot={out}", url],
        capture_output=True, text=True, timeout=120,
    )


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Failed to load resource" in line or "Uncaught" in line]


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true", reason="Debian's chromium is not installed (CI installs it)")
def test_report_renders_in_headless_chromium_without_console_errors(report_env: tuple[Path, Path]) -> None:
    tmp, path = report_env
    shot = tmp / "report.png"
    proc = _chromium(path.as_uri(), shot, tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 50_000  # a real page, not a blank one
    assert _console_errors(proc.stderr) == []
    # the check can fail: the same page with a broken script and image is caught
    broken = tmp / "broken.html"
    broken.write_text(path.read_text().replace("</body>", "<script>undefinedFunction()</script><img src='missing.png'></body>"))
    bad = _chromium(broken.as_uri(), tmp / "broken.png", tmp)
    assert _console_errors(bad.stderr), bad.stderr[-2000:]


def _insights(cfg_dir: Path) -> dict:
    with StateStore(cfg_dir / "s.sqlite") as store:
        latest = store.models.latest(*ARTIFACT)
    assert latest is not None
    return latest[1]


def test_priority_matrix_is_a_2x2_chart_naming_targets_and_the_opportunity_cost(report_env: tuple[Path, Path]) -> None:
    tmp, path = report_env
    html = path.read_text()
    chart = re.search(r'<svg[^>]*aria-label="Priority matrix: revenue potential against cost to reach".*?</svg>', html, re.S)
    assert chart, "no priority chart"
    pr = _insights(tmp)["priority"]
    svg = chart.group(0)
    for quadrant in ("invest", "harvest", "nurture", "deprioritise"):
        assert f">{quadrant}</text>" in svg
    assert svg.count("<circle") == len(pr)  # one bubble per segment, labelled with its name
    for name in pr["segment_name"]:
        assert f">{name}</text>" in svg
    invest = pr[pr["quadrant"] == "invest"]
    rest = pr[pr["quadrant"] != "invest"]
    assert len(invest) and len(rest)
    assert f"Targets: <b>{', '.join(invest['segment_name'])}</b>" in html
    share = rest["value"].sum() / pr["value"].sum()
    assert f"{rest['value'].sum():,.0f} of revenue potential ({share:.0%} of the total) left to cheaper treatments" in html
    assert svg.count('fill-opacity="0.55"') == len(invest)  # targets filled, the rest outlined


def test_score_section_shows_global_drivers_largest_first(report_env: tuple[Path, Path]) -> None:
    tmp, path = report_env
    drivers = _insights(tmp)["drivers"]["buy_60d"]
    values = list(drivers.values())
    assert len(values) >= 4 and values == sorted(values, reverse=True) and values[0] > 0
    assert "recency_days" in drivers and "frequency" in drivers
    html = path.read_text()
    chart = re.search(r'<svg[^>]*aria-label="Global drivers of buy_60d: mean \|contribution\| per feature".*?</svg>', html, re.S)
    assert chart, "no drivers chart"
    labels = re.findall(r'text-anchor="end" font-size="12">([^<]+)</text>', chart.group(0))
    assert labels == list(drivers)


# Measures every table against its container once the page has laid out; --dump-dom prints the result.
_OVERFLOW_PROBE = """<script>
addEventListener('load', () => {
  const over = [...document.querySelectorAll('table')].filter(t => t.scrollWidth > t.parentElement.clientWidth + 1
      || t.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
    .map(t => t.querySelector('th').textContent + ' ' + t.scrollWidth + '>' + t.parentElement.clientWidth);
  const pre = document.createElement('pre'); pre.id = 'overflow';
  pre.textContent = 'tables=' + document.querySelectorAll('table').length + ' overflowing=' + JSON.stringify(over);
  document.body.appendChild(pre);
});
</script>"""


def _overflowing_tables(page: Path, tmp: Path, width: int) -> tuple[int, list[str]]:
    assert CHROMIUM is not None
    probe = tmp / f"probe-{page.stem}-{width}.html"
    probe.write_text(page.read_text().replace("</body>", _OVERFLOW_PROBE + "</body>"))
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp / 'chrome-probe'}",
         f"--window-size={width},1000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    found = re.search(r'<pre id="overflow">tables=(\d+) overflowing=(.*?)</pre>', proc.stdout)
    assert found, proc.stderr[-2000:]
    return int(found.group(1)), json.loads(found.group(2).replace("&gt;", ">").replace("&quot;", '"'))


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true", reason="Debian's chromium is not installed (CI installs it)")
def test_no_table_runs_off_the_page_in_chromium(report_env: tuple[Path, Path]) -> None:
    tmp, path = report_env
    for width in (1200, 900):
        tables, overflowing = _overflowing_tables(path, tmp, width)
        assert tables >= 6 and overflowing == [], (width, overflowing)
    # the probe can fail: a table forced wider than the page is caught
    wide = tmp / "wide.html"
    wide.write_text(path.read_text().replace("</body>", "<div><table><tr><th>x</th><td style='min-width:3000px'>1</td></tr></table></div></body>"))
    assert _overflowing_tables(wide, tmp, 1200)[1]
