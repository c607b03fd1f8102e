"""`segsync report`: one self-contained HTML file from the state store.

It reads what the last runs saved (the insights artifact, lift results, runs, rejected rows)
and recomputes nothing. No scripts, no external assets: it opens offline and can be mailed.
"""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from connector import charts
from connector.config import Config, secret_values
from connector.crm.errors import ConfigurationError
from connector.state import StateStore
from connector.steps.insight import ARTIFACT
from connector.steps.offers import ARTIFACT as OFFERS
from connector.tables import html_table as _table
from connector.tables import lift_table
from segmentation.priority import priority_targets

CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#1a202c}
h1{font-size:24px}h2{font-size:19px;margin-top:36px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0;max-width:100%}td,th{border:1px solid #e2e8f0;padding:4px 6px;text-align:right}td.t{text-align:left}
th{background:#f7fafc;font-weight:600}td:first-child,th:first-child{text-align:left}.note{color:#4a5568;font-size:13px}
.card{border:1px solid #e2e8f0;border-radius:6px;padding:12px 16px;margin:10px 0;background:#fbfdff}
.flag{color:#c53030;font-weight:bold}.ok{color:#2f855a}.wide{overflow-x:auto;max-width:100%}svg{max-width:100%;height:auto}
@media print{.pagebreak{page-break-before:always}body{margin:0;max-width:none}table{font-size:10px}}
"""


def write_report(cfg: Config, out_dir: Path) -> Path:
    state_path = cfg.resolve(cfg.state.path)
    if not state_path.exists():
        raise ConfigurationError(f"no state file at {state_path}: run `segsync run` first")
    with StateStore(state_path, redact=secret_values(cfg)) as store:
        html = render_report(store, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "index.html"
    # 0600 like the state file: the rejected rows quote raw input values, which may be personal data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(html)
    return path


def render_report(store: StateStore, cfg: Config) -> str:
    latest = store.models.latest(*ARTIFACT)
    insights: dict[str, Any] = latest[1] if latest else {}
    lifts = {
        exp.key: [(run, at, _numeric(res)) for run, at, res in store.experiments.lift_history(exp.key)]
        for exp in cfg.experiments.items
    }
    parts = [
        f"<h1>segsync report</h1><p class='note'>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (f" · data as of {escape(insights['as_of'])} · run {insights['run_id']}" if insights else "")
        + "</p>",
        _summary(insights, lifts),
    ]
    if insights:
        parts += [_segments(insights), _rfm(insights), _migration(insights), _models(insights)]
    offers = store.models.latest(*OFFERS)
    if offers:
        parts.append(_offers(offers[1]))
    parts += [_experiments(lifts), _model_timeline(store), _operations(store)]
    return f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>segsync report</title><style>{CSS}</style></head><body>{''.join(parts)}</body></html>"


def _numeric(res: pd.DataFrame) -> pd.DataFrame:
    """Lift rows come back from JSON: nulls for NaN; make the numeric columns float again."""
    res = res.copy()
    for col in ("estimate", "ci_low", "ci_high", "p_value", "p_adjusted", "chance_to_win", "srm_p", "mean_control", "mean_treatment", "abs_estimate"):
        if col in res:
            res[col] = pd.to_numeric(res[col], errors="coerce").astype(float)
    for col in ("srm_flag", "significant"):
        if col in res:
            res[col] = res[col].fillna(False).astype(bool)
    return res


def _summary(insights: dict[str, Any], lifts: dict[str, list]) -> str:
    if not insights:
        return "<div class='card'>No segmentation has been saved yet: run <code>segsync run</code> first.</div>"
    pr = insights["priority"]
    prof = insights["profiles"].set_index("segment_id")
    best = _best_lift_per_segment(lifts)
    cards = []
    for r in pr.itertuples(index=False):
        share = prof.loc[r.segment_id, "share"] if r.segment_id in prof.index else float("nan")
        rev = prof.loc[r.segment_id, "revenue_share"] if "revenue_share" in prof and r.segment_id in prof.index else float("nan")
        lift = best.get(str(r.segment_id))  # None until an experiment has outcomes
        cards.append(
            f"<div class='card'><b>{escape(str(r.segment_name))}</b> <span class='note'>({escape(str(r.segment_id))})</span>: "
            f"{int(r.size):,} customers ({share:.1%}), {rev:.1%} of revenue. Quadrant <b>{escape(str(r.quadrant))}</b>. "
            f"<br>Suggested action: <b>{escape(str(r.action))}</b>{'. ' + escape(lift) if lift else ''}</div>"
        )
    return "<h2>Marketing summary: one action per segment</h2>" + "".join(cards)


def _best_lift_per_segment(lifts: dict[str, list]) -> dict[str, str]:
    out: dict[str, str] = {}
    for exp, history in lifts.items():
        if not history:
            continue
        res = history[-1][2]
        conv = res[res["metric"] == "conversion"] if "metric" in res else res
        for r in conv.itertuples(index=False):
            if not math.isfinite(r.estimate):
                continue
            verdict = "significant" if getattr(r, "significant", False) else "not significant yet"
            out[str(r.segment_id)] = (
                f"Experiment {exp}, arm {r.arm}: conversion lift {r.estimate:+.1%} "
                f"[{r.ci_low:+.1%}, {r.ci_high:+.1%}], {verdict}"
            )
    return out


def _segments(ins: dict[str, Any]) -> str:
    prof = ins["profiles"]
    labels = [f"{n} ({i})" for i, n in zip(prof["segment_id"], prof["segment_name"], strict=True)]
    series = {"share of customers": prof["share"].tolist()}
    if "revenue_share" in prof:
        series["share of revenue"] = prof["revenue_share"].tolist()
    cols = [c for c in ("segment_id", "segment_name", "size", "share", "revenue_share", "mean_recency_days", "mean_frequency", "mean_monetary_total", "mean_clv", "top_attributes") if c in prof]
    metrics = ins.get("metrics") or {}
    quality = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items() if not isinstance(v, dict | list))
    return (
        f"<h2 class='pagebreak'>Segments ({escape(ins['method'])})</h2><p class='note'>{'Retrained' if ins['retrained'] else 'Model reused'}: {escape(str(ins['reason']))}. Quality: {escape(quality)}</p>"
        + charts.bar_chart(labels, series, "Segment size and revenue", percent=True)
        + _table(prof[cols], {"share": ".1%", "revenue_share": ".1%"})
        + _priority(ins["priority"])
    )


def _priority(pr: pd.DataFrame) -> str:
    """The 2x2: revenue potential (size x expected value per customer) against the cost to reach
    each unit of it, split at the medians as segmentation.priority classifies; then the targets and
    the opportunity cost of the rest."""
    vpc = pr["value_per_cost"].astype(float)
    split = float(vpc.median())
    points = [{"label": r.segment_name, "x": 100 / v if v > 0 else 0.0, "y": r.value, "size": r.size,
               "highlight": r.quadrant == "invest", "detail": f"{r.size:,} customers, {r.quadrant}"}
              for r, v in zip(pr.itertuples(index=False), vpc, strict=True)]
    chart = charts.quadrant_chart(
        points, "Priority matrix: revenue potential against cost to reach", x_split=100 / split if split > 0 else 0.0,
        y_split=float(pr["value"].median()), x_label="cost to reach per 100 of revenue potential (lower is cheaper)",
        y_label="revenue potential (size x value per customer)", corners=("invest", "harvest", "nurture", "deprioritise"))
    t = priority_targets(pr)
    text = (f"Targets: <b>{escape(', '.join(t.targets))}</b> ({t.target_value:,.0f} of revenue potential for "
            f"{t.target_cost:,.2f} to reach). Opportunity cost of the rest"
            + (f" ({escape(', '.join(t.rest))}): {t.rest_value:,.0f} of revenue potential ({t.rest_share:.0%} "
               f"of the total) left to cheaper treatments; reaching them too would cost {t.rest_cost:,.2f}."
               if t.rest else ": none, every segment is a target."))
    return ("<h3>Priority matrix</h3>" + chart + f"<p class='note'>{text} Bubble area: segment size. Split at the "
            "median segment on each axis.</p>"
            + _table(pr[["segment_id", "segment_name", "size", "expected_value", "value", "cost", "quadrant", "action"]]))


def _offer_model(summary: dict[str, Any]) -> str:
    """Which offer model (the table below, the method) this run used, and whether it was refitted."""
    if summary.get("model_version") is None:
        return ""
    how = f"refitted this run: {summary['retrained']}" if summary.get("retrained") else "reused"
    return (f" Offer model version {summary['model_version']}, fitted on data as of "
            f"{escape(str(summary.get('model_as_of', '?')))}, {escape(how)}.")


def _offers(summary: dict[str, Any]) -> str:
    """Top offers per segment and the out-of-time table of methods (the `offers` artifact)."""
    html = (
        f"<h2 class='pagebreak'>Next best offer ({escape(summary['method'])}, {escape(summary['mode'])} mode)</h2>"
        f"<p class='note'>{escape(summary['reason'])}. Data as of {escape(summary['as_of'])}.{_offer_model(summary)}</p>"
        + "<h3>Top offers per segment</h3>" + _table(summary["top_by_segment"])
    )
    table = summary.get("evaluation")
    if table is None or table.empty:
        return html + "<p class='note'>No out-of-time table: the history is shorter than two horizons.</p>"
    cols = {"precision_at_3": "precision@3", "precision_lo": "p@3 low", "precision_hi": "p@3 high", "hit_at_3": "hit@3",
            "lift_vs_best_baseline": "vs best baseline", "lift_lo": "lift low", "lift_hi": "lift high"}
    shown = table[["mode", "method", "customers", "best_baseline", *[c for c in cols if c in table]]].rename(columns=cols)
    return html + (
        "<h3>Out of time: trained before the cutoff, judged on the next window (95 % bootstrap intervals)</h3>"
        + _table(shown, {v: ".3f" for v in cols.values()})
    )


def _rfm(ins: dict[str, Any]) -> str:
    grid = ins["rfm_grid"]
    rows = [f"R {r}" for r in grid.index]
    cols = [f"F {c}" for c in grid.columns]
    counts = ins["rfm_segments"]
    return (
        "<h2>RFM grid</h2><p class='note'>Customers by recency score (5 = most recent) and frequency score (5 = most frequent).</p>"
        + charts.heatmap(rows, cols, grid.to_numpy().tolist(), "RFM grid: customers per R x F cell", row_title="recency", col_title="frequency")
        + _table(counts.rename_axis("RFM segment").reset_index(name="customers"))
    )


def _migration(ins: dict[str, Any]) -> str:
    mig = ins.get("migration")
    if mig is None or len(mig) == 0:
        return "<h2>Migration between runs</h2><p class='note'>No previous run to compare with yet.</p>"
    ari = ins.get("ari")
    note = f"Adjusted Rand index on customers in both runs: {ari:.3f}." if isinstance(ari, float) else ""
    return (
        f"<h2>Migration between runs</h2><p class='note'>{note} Rows: segment in the previous run; columns: this run.</p>"
        + charts.heatmap([str(i) for i in mig.index], [str(c) for c in mig.columns], mig.to_numpy().tolist(), "Customers moving between segments")
    )


def _models(ins: dict[str, Any]) -> str:
    parts = ["<h2>Score models</h2>"]
    for name, metrics in (ins.get("score_metrics") or {}).items():
        if not metrics:
            continue
        parts.append(f"<h3>{escape(name)}</h3><p class='note'>Out-of-time validation on the latest cutoff; chosen model: <b>{escape(str(metrics.get('chosen')))}</b>.</p>")
        parts.append(_model_table(metrics))
        drivers = (ins.get("drivers") or {}).get(name)
        if drivers:
            parts.append(charts.bar_chart(list(drivers), {"mean |contribution| to the log-odds": list(drivers.values())},
                                          f"Global drivers of {name}: mean |contribution| per feature"))
        curve = (ins.get("calibration") or {}).get(name) or _find_calibration(metrics)
        if curve:
            parts.append(charts.line_chart({name: curve}, f"Calibration: {name}", diagonal=True))
    return "".join(parts) if len(parts) > 1 else parts[0] + "<p class='note'>No score targets configured.</p>"


def _model_table(metrics: dict[str, Any]) -> str:
    """Rows = metrics, columns = candidate models (when metrics['models'] holds them)."""
    models = metrics.get("models")
    if isinstance(models, dict) and models:
        names = list(models)
        keys = [k for k in ("roc_auc", "pr_auc", "log_loss", "brier", "top_decile_lift", "top_decile_capture", "calibration_slope", "base_rate", "n") if any(k in (models[m] or {}) for m in names)]
        df = pd.DataFrame({"metric": keys, **{m: [models[m].get(k, float("nan")) for k in keys] for m in names}})
        return _table(df, {m: ".4f" for m in names})
    flat = {k: v for k, v in _flatten(metrics).items() if isinstance(v, int | float | str)}
    return _table(pd.DataFrame({"metric": list(flat), "value": [f"{v:.4f}" if isinstance(v, float) else str(v) for v in flat.values()]}))


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif not isinstance(v, list | tuple | pd.DataFrame):
            out[key] = v
    return out


def _find_calibration(metrics: dict[str, Any]) -> list[tuple[float, float]] | None:
    for key, v in metrics.items():
        if "calibration" in key and isinstance(v, list | tuple) and v and isinstance(v[0], list | tuple):
            return [(float(a), float(b)) for a, b in v]
        if "calibration" in key and isinstance(v, pd.DataFrame) and v.shape[1] >= 2:
            return [(float(a), float(b)) for a, b in v.iloc[:, :2].itertuples(index=False)]
        if isinstance(v, dict):
            found = _find_calibration(v)
            if found:
                return found
    return None


def _experiments(lifts: dict[str, list]) -> str:
    parts = ["<h2 class='pagebreak'>Experiments: lift per segment</h2>"]
    if not any(lifts.values()):
        return parts[0] + "<p class='note'>No experiment results yet.</p>"
    for exp, history in lifts.items():
        if not history:
            continue
        run_id, computed, res = history[-1]
        rows = [
            {"label": f"{r.segment_id} · {r.arm} · {r.metric}", "estimate": float(r.estimate), "low": float(r.ci_low), "high": float(r.ci_high), "flag": bool(r.srm_flag), "significant": bool(r.significant)}
            for r in res.itertuples(index=False)
        ]
        flagged = res[res["srm_flag"].astype(bool)]
        srm = (
            "<p class='flag'>Sample ratio mismatch (p &lt; 0.001) in segment(s): " + escape(", ".join(map(str, flagged["segment_id"].unique()))) + ". Their results are untrustworthy.</p>"
            if len(flagged) else "<p class='ok'>No sample ratio mismatch.</p>"
        )
        parts.append(
            f"<h3>{escape(exp)}</h3><p class='note'>Run {run_id}, {escape(computed[:16])}. Relative lift against control with always-valid intervals; "
            "green = significant after multiple-testing correction.</p>"
            + charts.forest_plot(rows, f"{exp}: relative lift with intervals")
            + srm
            + _table(lift_table(res), {"p_value": ".4f", "p_adjusted": ".4f", "chance_to_win": ".1%", "srm_p": ".4f"})
        )
    return "".join(parts)


def _model_timeline(store: StateStore) -> str:
    """Every retrain with the trigger that caused it and the promotion decision."""
    from connector.lifecycle.commands import timeline

    rows = timeline(store.models.versions())
    note = ("<p class='note'>Each retrain, what triggered it (age, PSI, share shift, a changed definition) and "
            "whether it became champion. `segsync models promote|rollback` overrides.</p>")
    return "<h2>Model versions</h2>" + note + (_table(pd.DataFrame(rows)) if rows else "<p>No model trained yet.</p>")


def _operations(store: StateStore) -> str:
    runs = store.runs.last(10)
    df = pd.DataFrame([{"run": r.id, "status": r.status, "started": r.started_at[:19], "step": r.current_step or "", "error": r.error or ""} for r in runs])
    rejected = store.rejected.open(limit=50)
    rej = _table(rejected[["run_id", "step", "source", "record_key", "reason"]]) if len(rejected) else "<p class='ok'>No open rejected rows.</p>"
    return "<h2>Runs</h2>" + (_table(df) if len(df) else "<p>No runs.</p>") + f"<h2>Rejected rows ({store.rejected.open_count()} open)</h2>" + rej
