"""Campaign arms found in the sandbox CRMs, and the true effect treatment has on each customer.

Memberships are discovered by scanning the stores (no hooks into the emulators): a Salesforce
Campaign or HubSpot list whose name matches the scenario's name_template ("segsync
{experiment} {arm}") and whose arm is one of the scenario's treatment, control or holdout
names puts its members in that arm. A customer's first arm seen is kept (one experiment per
customer; later ones do not add effects).

The effect, for a customer assigned on day d with window W (scenario.window_days):
- without treatment they buy within [d, d + W) with probability p0 = alive * (1 - exp(-lambda W))
  (one purchase a day at most, dropout only after a purchase, so that is exact);
- treated, they also make one extra purchase on a uniform day of the window with probability
  q = min(1, delta / (1 - p0)), so P(buy within W) = p0 + min(delta, 1 - p0): the individual
  conversion effect is exactly min(delta, 1 - p0), delta the segment's conversion_lift;
- every purchase of a treated customer in the window spends (1 + spend_lift) times more.
Control and holdout members get no effect. Their effect-if-treated is still computed, so the
true average effect of any group of assigned customers is the mean of `expected_conversion_effect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from connector.sandbox.scenario import Scenario

KINDS = ("none", "treatment", "control", "holdout")


@dataclass(frozen=True)
class Membership:
    customer: int
    experiment: str
    arm: str
    kind: int  # index into KINDS
    member_id: str | None  # Salesforce CampaignMember Id (None for HubSpot lists)


def scan_memberships(scenario: Scenario, sf_store: Any | None, hs_store: Any | None,
                     sf_index: dict[str, int], hs_index: dict[str, int], seen: set) -> list[Membership]:
    """Arm memberships now in the CRMs and not in `seen` (which they are added to), Salesforce
    first, in store order."""
    pattern = scenario.name_pattern()
    found: list[Membership] = []

    def parse(name: str) -> tuple[str, str, int] | None:
        m = pattern.match(name or "")
        kind = scenario.arms.kind(m.group("arm")) if m else None
        if m is None or kind is None:
            return None
        experiment = m.groupdict().get("experiment") or ""
        return experiment, m.group("arm"), KINDS.index(kind)

    if sf_store is not None:
        arms = {c["Id"]: parse(c.get("Name", "")) for c in sf_store.records("Campaign")}
        for member in sf_store.records("CampaignMember"):
            if member["Id"] in seen:
                continue
            arm = arms.get(member.get("CampaignId"))
            customer = sf_index.get(member.get("ContactId") or "")
            if arm is not None and customer is not None:
                seen.add(member["Id"])
                found.append(Membership(customer, arm[0], arm[1], arm[2], member["Id"]))
    if hs_store is not None:
        for name, list_id in hs_store.lists().items():
            arm = parse(name)
            if arm is None:
                continue
            for contact in sorted(hs_store.list_members(list_id), key=int):
                customer = hs_index.get(contact)
                if customer is not None and (list_id, contact) not in seen:
                    seen.add((list_id, contact))
                    found.append(Membership(customer, arm[0], arm[1], arm[2], None))
    return found


class TreatmentBook:
    """Per customer: arm, assignment day, response plan, and realised outcomes in the window."""

    def __init__(self, scenario: Scenario, segment: np.ndarray) -> None:
        n = segment.size
        self.scenario = scenario
        self.segment = segment
        self.lift = np.array([s.effect.conversion_lift for s in scenario.segments])[segment]
        self.spend_lift = np.array([s.effect.spend_lift for s in scenario.segments])[segment]
        self.kind = np.zeros(n, np.int8)
        self.experiment = np.full(n, None, dtype=object)
        self.arm = np.full(n, None, dtype=object)
        self.assigned_day = np.full(n, -1, np.int32)
        self.response_day = np.full(n, -1, np.int32)
        self.expected_conversion = np.full(n, np.nan)
        self.expected_revenue = np.full(n, np.nan)
        self.baseline_converted = np.zeros(n, bool)
        self.converted = np.zeros(n, bool)
        self.baseline_revenue = np.zeros(n)
        self.revenue = np.zeros(n)
        self.member_ids: dict[int, set[str]] = {}
        self.responded: set[str] = set()

    def assign(self, members: list[Membership], day: int, state: dict[str, np.ndarray],
               rng: np.random.Generator) -> np.ndarray:
        """Record new memberships on `day`; plan treated customers' responses. Returns new indices."""
        new = []
        for m in members:
            if m.member_id is not None:
                self.member_ids.setdefault(m.customer, set()).add(m.member_id)
            if self.kind[m.customer] == 0:
                self.kind[m.customer], self.experiment[m.customer], self.arm[m.customer] = m.kind, m.experiment, m.arm
                self.assigned_day[m.customer] = day
                new.append(m.customer)
        idx = np.array(sorted(set(new)), dtype=np.int64)
        if idx.size:
            self._plan(idx, day, state, rng)
        return idx

    def _plan(self, idx: np.ndarray, day: int, state: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        window = self.scenario.window_days
        lam, p, alive = state["purchase_rate"][idx], state["dropout"][idx], state["alive"][idx]
        buy = 1 - np.exp(-lam)
        p0 = np.where(alive, 1 - np.exp(-lam * window), 0.0)
        effect = np.minimum(self.lift[idx], 1 - p0)
        q = np.divide(effect, 1 - p0, out=np.zeros_like(effect), where=(1 - p0) > 0)
        mean_spend = state["spend_shape"][idx] / state["spend_rate"][idx]
        expected_n = np.where(alive, (1 - (1 - buy * p) ** window) / p, 0.0)
        s = self.spend_lift[idx]
        self.expected_conversion[idx] = effect
        self.expected_revenue[idx] = mean_spend * (s * expected_n + (1 + s) * q)
        responds = rng.random(idx.size) < q
        offset = rng.integers(0, window, idx.size)
        treated = self.kind[idx] == KINDS.index("treatment")
        self.response_day[idx] = np.where(responds & treated, day + offset, -1)

    def in_window(self, day: int) -> np.ndarray:
        """Mask of customers assigned and within their effect window on `day`."""
        start = self.assigned_day
        return (start >= 0) & (day >= start) & (day < start + self.scenario.window_days)

    def treated_in_window(self, day: int) -> np.ndarray:
        return self.in_window(day) & (self.kind == KINDS.index("treatment"))

    def record(self, day: int, customer: np.ndarray, baseline_amount: np.ndarray, amount: np.ndarray) -> None:
        """Account one day's purchases; baseline_amount is NaN for a treatment-only (extra) purchase."""
        inside = self.in_window(day)[customer]
        c, base, actual = customer[inside], baseline_amount[inside], amount[inside]
        is_base = ~np.isnan(base)
        self.baseline_converted[c[is_base]] = True
        self.converted[c] = True
        np.add.at(self.baseline_revenue, c[is_base], base[is_base])
        np.add.at(self.revenue, c, actual)
