"""How `segsync plan` and `run --dry-run` print what a run would change."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def render_plan(plans: Sequence[dict[str, Any]], power: Sequence[dict[str, Any]] = ()) -> str:
    """plans: per-destination summaries (CycleResult.plan, see connector.steps.plan);
    power: minimum detectable lift rows (CycleResult.power)."""
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
    for row in power:
        # experiments.power returns inf when no lift up to +1000 % is detectable
        mde = f"{row['mde']:.1%}" if math.isfinite(row["mde"]) else "above +1000%"
        lines.append(
            f"  experiment {row['experiment']} segment {row['segment']}"
            + (f" ({row['segment_name']})" if row.get("segment_name") else "")
            + f" arm {row['arm']}: n per arm {row['n_per_arm']}, "
            f"baseline {row['baseline']:.3f}, minimum detectable lift {mde} at 80% power"
        )
    return "\n".join(lines)
