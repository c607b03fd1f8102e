"""How `segsync plan` and `run --dry-run` print what a run would change."""

from __future__ import annotations

import math
from typing import Any


def render_plan(outputs: dict[str, Any]) -> str:
    """outputs['plan'] is a list of per-destination summaries (see connector.steps.plan)."""
    plans = outputs.get("plan")
    if not plans:
        return "plan: nothing to change (no destination configured, or no data pulled yet)"
    lines = ["plan (nothing below has been written to any CRM):"]
    for p in plans:
        lines.append(f"  {p['destination']}:")
        for key in ("updates", "unchanged", "list_adds", "list_removals", "new_lists", "new_arms", "rejected"):
            if key in p:
                lines.append(f"    {key.replace('_', ' '):<14} {p[key]}")
        for note in p.get("notes", []):
            lines.append(f"    note: {note}")
    for power in outputs.get("power", []):
        # experiments.power returns inf when no lift up to +1000 % is detectable
        mde = f"{power['mde']:.1%}" if math.isfinite(power["mde"]) else "above +1000%"
        lines.append(
            f"  experiment {power['experiment']} segment {power['segment']}"
            + (f" ({power['segment_name']})" if power.get("segment_name") else "")
            + f" arm {power['arm']}: n per arm {power['n_per_arm']}, "
            f"baseline {power['baseline']:.3f}, minimum detectable lift {mde} at 80% power"
        )
    return "\n".join(lines)
