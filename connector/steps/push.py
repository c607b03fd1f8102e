"""Step `push`: send the plan, confirm each record in the ledger as the CRM confirms it.

Results are flushed to the ledger every FLUSH records, and a stop is honoured only right
after a flush, so a crash or a SIGTERM loses at most the unconfirmed tail, which the next
plan sends again. Refused records become rejected rows with the CRM's reason and, since the
ledger never confirmed them, they are retried next run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from connector.config.paths import refuse_overwrite
from connector.crm.base import RecordResult, change_members
from connector.crm.plugin import FieldDestination
from connector.steps.plan import DestinationPlan

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.push")
FLUSH = 1000


def push(ctx: CycleContext) -> None:
    if ctx.dry_run:
        return
    planned = ctx.results.plan
    if planned is None:
        return
    plugins = ctx.plugins()
    for whole in plugins.table_destinations():
        output = whole.output()
        if output is None:
            continue
        table = planned.desired.drop(columns=["arms", "email"], errors="ignore")
        refuse_overwrite(ctx.config, ctx.config.resolve(output[1]), output[0])
        path = whole.write_table(table)
        if path is None:
            log.info("%s already holds these %d customers: not rewritten", output[1], len(table))
            continue
        ctx.count(f"{whole.name}_rows_written", len(table))
        log.info("wrote %d customers to %s", len(table), path)
    for dest, p in planned.destinations.items():
        conn = plugins[dest]
        # this push re-sends every record the CRM has not confirmed: close the earlier refusals,
        # so a record refused again has one open row (today's reason), and one that left the
        # desired state (deleted in the CRM) does not stay open forever
        ctx.store.rejected.resolve_step("push", dest)
        _provision(ctx, conn, p)
        _push_fields(ctx, conn, p)
        _push_lists(ctx, conn, p)


def _provision(ctx: CycleContext, conn: FieldDestination, p: DestinationPlan) -> None:
    """Check (and create where allowed) the fields; once per distinct field spec."""
    digest = json.dumps([(s.key, s.type, list(s.options)) for s in p.specs], sort_keys=True)
    key = f"provisioned:{p.destination}"
    if ctx.store.get_meta(key) == digest or not p.specs:
        return
    report = conn.provision(p.specs)
    if report.created:
        log.info("%s: created field(s) %s", p.destination, ", ".join(report.created))
    ctx.store.set_meta(key, digest)


def _push_fields(ctx: CycleContext, conn: FieldDestination, p: DestinationPlan) -> None:
    if not p.updates:
        return
    values = {u.record_id: u.values for u in p.updates}
    ok: list[tuple[str, str | None, dict]] = []
    failed: list[RecordResult] = []

    def flush() -> None:
        if ok:
            ctx.store.ledger.confirm_fields(p.destination, ok, mapping_hash=p.mapping_hash, run_id=ctx.run_id)
            ctx.store.rejected.resolve("push", p.destination, [k for k, _, _ in ok])
            ctx.count(f"pushed_{p.destination}", len(ok))
            ctx.metrics.records_written(p.destination, "ok", len(ok))
        if failed:
            ctx.store.rejected.add(ctx.run_id, "push", p.destination, [
                {"record_key": p.record_keys.get(r.record_id, r.record_id), "reason": f"{r.error_code}: {r.message}", "payload": {"record_id": r.record_id}}
                for r in failed
            ])
            ctx.count(f"push_failed_{p.destination}", len(failed))
            ctx.metrics.records_written(p.destination, "failed", len(failed))
        ok.clear()
        failed.clear()

    for i, result in enumerate(conn.push_updates(p.updates), start=1):
        if result.ok:
            ok.append((p.record_keys[result.record_id], result.crm_id or result.record_id, dict(values[result.record_id])))
        else:
            failed.append(result)
        if i % FLUSH == 0:
            flush()
            ctx.check_stop()
    flush()


def _push_lists(ctx: CycleContext, conn: FieldDestination, p: DestinationPlan) -> None:
    for name in sorted(set(p.list_adds) | set(p.list_removes)):
        list_id = ctx.store.ledger.list_id(p.destination, name)
        if list_id is None:
            list_id = conn.ensure_list(name)
            ctx.store.ledger.remember_list(p.destination, name, list_id)
            ctx.count(f"lists_created_{p.destination}", 1)
        adds = {crm: key for key, crm in p.list_adds.get(name, {}).items()}
        removes = p.list_removes.get(name, {})
        by_crm_removed = {str(crm): key for key, crm in removes.items() if crm is not None}
        added, removed = change_members(conn, list_id, list(adds), list(by_crm_removed))
        done = _confirmed(added, adds, ctx, p.destination, name)
        gone = [by_crm_removed[c] for c in _confirmed(removed, by_crm_removed, ctx, p.destination, name)]
        gone += [k for k, crm in removes.items() if crm is None]  # never confirmed in the CRM: nothing to remove
        ctx.store.ledger.confirm_list_changes(
            p.destination, name, added=[(adds[c], c) for c in done], removed=gone, run_id=ctx.run_id
        )
        ctx.count(f"list_adds_{p.destination}", len(done))
        ctx.count(f"list_removals_{p.destination}", len(gone))
        ctx.check_stop()


def _confirmed(results: Iterable[RecordResult], by_crm: dict[str, str], ctx: CycleContext, dest: str, name: str) -> list[str]:
    done: list[RecordResult] = []
    refused: list[RecordResult] = []
    for r in results:
        (done if r.ok else refused).append(r)
    if refused:
        ctx.store.rejected.add(ctx.run_id, "push", dest, [
            {"record_key": by_crm.get(r.record_id, r.record_id), "reason": f"list {name!r}: {r.error_code}: {r.message}"} for r in refused
        ])
    return [r.record_id for r in done]
