"""HTML tables for the report: numbers formatted, text left-aligned, headers that wrap.

A wide table narrows to the page instead of running off it: headers are words (underscores
become spaces) so they wrap, and the lift table puts each interval and the arm sizes in one
cell (12 columns, checked in headless Chromium by tests/connector/report).
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd


def html_table(df: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    # spaced headers wrap, so a wide table narrows to the page instead of running off it
    head = "".join(f"<th>{escape(str(c).replace('_', ' '))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, rec, strict=True):
            if isinstance(v, float) and col in formats:
                text = "n/a" if math.isnan(v) else format(v, formats[col])
            elif isinstance(v, float):
                text = "n/a" if math.isnan(v) else f"{v:,.2f}"
            else:
                text = str(v)
            cells.append(f"<td class='t'>{escape(text)}</td>" if isinstance(v, str) else f"<td>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def lift_table(res: pd.DataFrame) -> pd.DataFrame:
    """The lift rows in 12 columns (13 with the note) that fit the page: n per arm and the interval
    each in one cell."""

    def lift(r: pd.Series) -> str:
        if not math.isfinite(r["estimate"]):
            return "n/a"
        return f"{r['estimate']:+.1%} [{r['ci_low']:+.1%}, {r['ci_high']:+.1%}]"

    out = pd.DataFrame({"segment_id": res["segment_id"].astype(str), "arm": res["arm"].astype(str), "metric": res["metric"].astype(str)})
    if {"n_control", "n_treatment"} <= set(res.columns):
        out["n (control / treatment)"] = [f"{int(a):,} / {int(b):,}" for a, b in zip(res["n_control"], res["n_treatment"], strict=True)]
    for col in ("mean_control", "mean_treatment"):
        if col in res:
            out[col] = res[col]
    out["relative lift [95% interval]"] = res.apply(lift, axis=1) if len(res) else []
    for col in ("p_value", "p_adjusted", "chance_to_win", "srm_p"):
        if col in res:
            out[col] = res[col]
    if "significant" in res:
        out["significant"] = res["significant"].map({True: "yes", False: "no"})
    if "note" in res:  # why a comparison was refused (experiments.stats), empty otherwise
        out["note"] = res["note"].fillna("").astype(str)
    return out
