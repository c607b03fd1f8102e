"""The command front: thin, each command a few lines over the components.

Exit codes: 0 done, 1 the cycle failed, 2 invalid configuration, input file, state file or
usage (one line saying what to fix, no traceback), 3 a `check` failed, 4 stopped at a CRM quota
(resume later), 75 another segsync holds the state file's lock, 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from connector.config import Config, json_schema, load_config, secret_values
from connector.config.paths import refuse_overwrite
from connector.crm.errors import ConfigurationError, LockedError
from connector.logs import configure_logging
from connector.state import EXIT_LOCKED, StateLock, StateStore
from connector.state.experiment_data import experiment_changes, read_experiment_definitions
from connector.state.store import describe_state_error

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_CHECK, EXIT_QUOTA, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
log = logging.getLogger("segsync")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="segsync", description="Segment, score and test customers inside Salesforce and HubSpot.")
    p.add_argument("--log-format", choices=["text", "json"], help="override logging.format from the config")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="override logging.level")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("validate", help="check a config file; exit 2 listing every problem").add_argument("config")
    sub.add_parser("schema", help="print the config's JSON Schema (for yaml-language-server)")
    check = sub.add_parser("check", help="preflight every source and destination; writes nothing; exit 3 on a failed check")
    check.add_argument("config")
    check.add_argument("--json", action="store_true", help="machine-readable result")
    sub.add_parser("plan", help="what a run would change, per destination; writes nothing to any CRM").add_argument("config")
    run = sub.add_parser("run", help="run one cycle now")
    run.add_argument("config")
    run.add_argument("--dry-run", action="store_true", help="the whole pipeline, but nothing is written to any CRM")
    sub.add_parser("daemon", help="run cycles on the config's schedule until SIGTERM/SIGINT").add_argument("config")
    resync = sub.add_parser("resync", help="forget a source's pull cursors: its next pull reads everything again")
    resync.add_argument("config")
    resync.add_argument("source", help="the source's name under sources: (salesforce, hubspot, sql)")
    resync.add_argument("entity", nargs="?", help="one entity (customers, transactions, line_items, events); all when left out")
    status = sub.add_parser("status", help="the last runs and open rejected rows")
    status.add_argument("config")
    status.add_argument("-n", type=int, default=10, help="how many runs to show")
    detail = status.add_mutually_exclusive_group()
    detail.add_argument("--verbose", "-v", action="store_true", help="every counter and the full error under each run")
    detail.add_argument("--json", action="store_true", help="runs and open rejected rows as JSON")
    report = sub.add_parser("report", help="write the HTML report")
    report.add_argument("config")
    report.add_argument("--out", required=True, help="output folder")
    models = sub.add_parser("models", help="model versions, champion and challengers; promote or roll back")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    models_sub.add_parser("list", help="one line per model version").add_argument("config")
    promote = models_sub.add_parser("promote", help="make a version the champion")
    promote.add_argument("config")
    promote.add_argument("model", help="kind/name as `models list` prints it, e.g. score/buy_90d")
    promote.add_argument("version", type=int)
    rollback = models_sub.add_parser("rollback", help="make the previous champion champion again")
    rollback.add_argument("config")
    rollback.add_argument("model", help="kind/name, e.g. score/buy_90d")
    sandbox = sub.add_parser("sandbox", help="the embedded sandbox CRMs")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_sub.add_parser("serve", help="serve the Salesforce and HubSpot emulators on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--salesforce-port", type=int, default=8701)
    serve.add_argument("--hubspot-port", type=int, default=8702)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--population", choices=["empty", "cdnow"], default="cdnow")
    serve.add_argument("--products", type=int, default=40,
                       help="cdnow: purchases hold products of a catalog this large, as line items (0: none)")
    serve.add_argument("--jwt-dir", default="segsync-sandbox",
                       help="folder for the JWT bearer flow's private key and certificate (reused if there)")
    api = sub.add_parser("serve", help="the real-time API over the last cycle's snapshot (needs segsync[serve])")
    api.add_argument("config")
    api.add_argument("--host", help="bind address (default: serve.host, 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default: serve.port, 8080)")
    apikey = sub.add_parser("apikey", help="API keys of segsync serve: create, list, revoke")
    apikey_sub = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_sub.add_parser("create", help="create a key; prints it alone on the last line (shown once)")
    create.add_argument("config")
    create.add_argument("--scope", required=True, help="comma-separated: read, score, events")
    create.add_argument("--name", default="", help="a label for `apikey list`")
    apikey_sub.add_parser("list", help="key ids, scopes and state (never the keys)").add_argument("config")
    revoke = apikey_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("config")
    revoke.add_argument("key_id")
    demo = sub.add_parser("demo", help="the whole loop against the sandbox CRMs, no credentials needed")
    demo.add_argument("--out", default="segsync-demo", help="folder for the state file and the report")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--days", type=int, default=31, help="simulated days of the experiment (the window is 30)")
    demo.add_argument("--scenario", default="default", help="scenario name (default, null, saas) or a YAML file")
    demo.add_argument("--users", type=int, help="saas scenario: how many free-tier users (default 20,000)")
    demo.add_argument("--products", type=int, default=40,
                      help="purchases hold products of a catalog this large, and offers are written (0: none)")
    demo.add_argument("--realistic-pacing", action="store_true",
                      help="wait out the sandbox CRMs' rate limits in real time (by default waits move the simulated clock)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level or "INFO", args.log_format or "text")
    try:
        return _dispatch(args)
    except ConfigurationError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    except LockedError as exc:
        print(f"segsync: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except KeyboardInterrupt:
        print("segsync: interrupted (Ctrl-C); the next run continues from the last checkpoint", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `segsync status | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return EXIT_OK


def _load(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    configure_logging(args.log_level or cfg.logging.level, args.log_format or cfg.logging.format, secret_values(cfg))
    return cfg


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "schema":
        print(json.dumps(json_schema(), indent=2))
        return EXIT_OK
    if cmd == "validate":
        cfg = _load(args)
        state_path = cfg.resolve(cfg.state.path)
        for warning in experiment_changes(cfg.experiments, read_experiment_definitions(state_path)):
            log.warning("%s", warning)
        print(f"{args.config}: valid ({_summary(cfg)})")
        return EXIT_OK
    if cmd == "check":
        return _check(_load(args), as_json=args.json)
    if cmd in ("run", "plan"):
        return _run_once(_load(args), dry_run=cmd == "plan" or args.dry_run, plan_only=cmd == "plan")
    if cmd == "daemon":
        from connector.daemon import Daemon

        return Daemon(_load(args)).run()
    if cmd == "resync":
        return _resync(_load(args), args.source, args.entity)
    if cmd == "status":
        return _status(_load(args), args.n, verbose=args.verbose, as_json=args.json)
    if cmd == "report":
        from connector.report import write_report

        cfg = _load(args)
        out = Path(args.out)
        refuse_overwrite(cfg, out / "index.html", "report --out")
        try:
            path = write_report(cfg, out)
        except OSError as exc:
            raise ConfigurationError(f"report --out {out}: cannot write there ({exc.strerror or exc}); "
                                     "give a folder this user can write") from None
        print(f"report written to {path}")
        return EXIT_OK
    if cmd == "serve":
        from connector.serve.server import ApiServer

        return ApiServer(_load(args), host=args.host, port=args.port).run()
    if cmd == "apikey":
        return _apikey(_load(args), args)
    if cmd == "models":
        from connector.lifecycle.commands import run_models_command

        return run_models_command(_load(args), args)
    if cmd == "sandbox":
        from connector.sandbox.serve import serve_forever

        return serve_forever(args)
    if cmd == "demo" and args.scenario == "saas":
        from connector.saas_demo import run_saas_demo

        return run_saas_demo(args)
    if cmd == "demo":
        from connector.demo import run_demo

        return run_demo(args)
    raise AssertionError(cmd)  # argparse rejects anything else


def _summary(cfg: Config) -> str:
    from connector.crm.registry import registered, settings

    sources = [n for n in registered() if settings(cfg.sources, n) is not None]
    dests = [n for n in registered() if settings(cfg.destinations, n) is not None]
    return (
        f"sources: {', '.join(sources) or 'none'}; destinations: {', '.join(dests) or 'none'}; "
        f"segmentation: {cfg.segmentation.method}; experiments: {len(cfg.experiments.items)}"
    )


def _run_once(cfg: Config, *, dry_run: bool, plan_only: bool = False) -> int:
    from connector.pipeline import run_cycle

    state_path = cfg.resolve(cfg.state.path)
    with StateLock(state_path):
        with StateStore(state_path, redact=secret_values(cfg)) as store:
            for warning in experiment_changes(cfg.experiments, store.experiments.definitions()):
                log.warning("%s", warning)
            try:
                result = run_cycle(cfg, store, dry_run=dry_run)
            except sqlite3.DatabaseError as exc:  # the state file failed while the run was being recorded
                raise ConfigurationError(describe_state_error(state_path, exc)) from None
    if plan_only or dry_run:
        from connector.plan_view import render_plan

        print(render_plan(result.plan, result.power))
    if result.invalid_input:
        print(f"run {result.run_id}: stopped: {result.error}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"run {result.run_id}: {result.status}" + (f" ({result.error})" if result.error else ""))
    if result.status == "succeeded" and not result.counts.get("customers"):
        print("nothing was segmented: no usable purchases; outputs keep what the last run wrote (see the log)")
    return {"succeeded": EXIT_OK, "quota_stopped": EXIT_QUOTA, "interrupted": EXIT_OK}.get(result.status, EXIT_FAILED)


def _resync(cfg: Config, source: str, entity: str | None) -> int:
    """Forget the cursors (a full pull next run; the mirror keeps its rows and the upsert absorbs the re-read)."""
    state_path = cfg.resolve(cfg.state.path)
    with StateLock(state_path), StateStore(state_path, redact=secret_values(cfg)) as store:
        had = store.query("SELECT stream FROM cursors WHERE source = ?", (source,))
        streams = sorted(r["stream"] for r in had if entity is None or r["stream"] in (entity, f"{entity}:keys"))
        if not streams:
            print(f"segsync: no pull cursor of {source}{' ' + entity if entity else ''} in {state_path}", file=sys.stderr)
            return EXIT_CONFIG
        for stream in streams:
            store.mirror.reset_cursor(source, stream)
    print(f"{source}: forgot the cursor(s) of {', '.join(streams)}; the next run pulls them in full")
    return EXIT_OK


def _apikey(cfg: Config, args: argparse.Namespace) -> int:
    from connector.state.api_keys import parse_scopes

    with StateStore(cfg.resolve(cfg.state.path), redact=secret_values(cfg)) as store:
        if args.apikey_command == "create":
            key, token = store.api_keys.create(parse_scopes(args.scope), args.name)
            print(f"key {key.key_id} created with scope {','.join(sorted(key.scopes))}; it is shown once, store it now:")
            print(token)
            return EXIT_OK
        if args.apikey_command == "list":
            print(f"{'key id':<14} {'scopes':<20} {'created (UTC)':<20} {'state':<8} name")
            for k in store.api_keys.list():
                state = "revoked" if k.revoked_at else "active"
                print(f"{k.key_id:<14} {','.join(sorted(k.scopes)):<20} {k.created_at[:19]:<20} {state:<8} {k.name}")
            return EXIT_OK
        if not store.api_keys.revoke(args.key_id):
            print(f"segsync: no active key with id {args.key_id}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"key {args.key_id} revoked")
        return EXIT_OK


def _check(cfg: Config, *, as_json: bool) -> int:
    from connector.check import render_json, render_text, run_checks

    checks = run_checks(cfg)
    print(render_json(checks) if as_json else render_text(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_CHECK


def _status(cfg: Config, n: int, *, verbose: bool = False, as_json: bool = False) -> int:
    from connector.status_view import HEADER, render_json, render_line, render_verbose, run_summary

    state_path = cfg.resolve(cfg.state.path)
    if not state_path.exists():
        print(f"no state file yet at {state_path}: no run has happened")
        return EXIT_OK
    with StateStore(state_path, redact=secret_values(cfg)) as store:
        runs = store.runs.last(n)
        rejected = store.rejected.open(limit=20)
        total = store.rejected.open_count()
    if as_json:
        print(render_json(runs, rejected, total))
        return EXIT_OK
    print(HEADER)
    for r in runs:
        print((render_verbose if verbose else render_line)(run_summary(r)))
    print(f"\nopen rejected rows: {total}")
    for row in rejected.itertuples(index=False):
        print(f"  run {row.run_id} {row.step}/{row.source} {row.record_key}: {row.reason}")
    if total > len(rejected):
        print(f"  ... and {total - len(rejected)} more")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
