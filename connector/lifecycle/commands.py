"""`segsync models list|promote|rollback`: what a person sees of the registry, and overrides."""

from __future__ import annotations

import argparse

from connector.config import Config
from connector.lifecycle.registry import open_registry
from connector.state import StateLock, StateStore
from connector.state.models import ModelVersion

EXIT_OK, EXIT_USAGE = 0, 2


def run_models_command(cfg: Config, args: argparse.Namespace) -> int:
    path = cfg.resolve(cfg.state.path)
    if not path.exists():
        print(f"no state file yet at {path}: no model has been trained")
        return EXIT_OK
    if args.models_command == "list":
        with StateStore(path) as store:
            print(render_versions(store.models.versions()))
        return EXIT_OK
    kind, _, name = args.model.partition("/")
    if kind != "score" or not name:
        print(f"segsync models {args.models_command}: {args.model!r} is not a score model (kind/name, e.g. "
              "score/buy_90d); a segmentation retrain is champion at once")
        return EXIT_USAGE
    with StateLock(path), StateStore(path) as store:
        registry = open_registry(store.models, cfg.tracking, state_path=path)
        try:
            if args.models_command == "promote":
                registry.promote(kind, name, args.version)
                version = args.version
            else:
                version = registry.rollback(kind, name)
        except ValueError as exc:
            print(f"segsync models {args.models_command}: {exc}")
            return EXIT_USAGE
    print(f"{kind}/{name}: version {version} is champion")
    return EXIT_OK


def render_versions(versions: list[ModelVersion]) -> str:
    """One line per version: model, version, alias, created, the metric it was judged on.
    Segmentation checkpoints between retrains are left out (they are not new models)."""
    shown = [v for v in versions if _fitted(v)]
    if not shown:
        return "no model versions yet"
    lines = [f"{'model':<28} {'version':>7}  {'alias':<10} {'created (UTC)':<19}  judged on"]
    for v in shown:
        lines.append(f"{v.kind + '/' + v.name:<28} {v.version:>7}  {','.join(v.aliases) or '-':<10} "
                     f"{v.created_at[:19]:<19}  {_judged(v)}")
    return "\n".join(lines)


def _fitted(v: ModelVersion) -> bool:
    """A version that is a fitted model: every score and offer model version (connector.steps.offers
    saves one per refit), segmentation only when it retrained."""
    return v.kind in ("score", "offers") or (v.kind == "segmentation" and bool(v.meta.get("retrained")))


def _judged(v: ModelVersion) -> str:
    judged, metric = v.meta.get("judged"), v.meta.get("judged_on")
    if judged and metric:
        new, old = judged
        return f"{metric} {_number(new)} vs champion {_number(old)}: {v.meta.get('decision', '')}"
    return str(v.meta.get("decision") or v.meta.get("reason") or "")


def _number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def timeline(versions: list[ModelVersion]) -> list[dict[str, str]]:
    """The retrains, newest first, for the report: when, model, version, trigger, decision, alias."""
    rows = [v for v in versions if _fitted(v)]
    return [{"when (UTC)": v.created_at[:19], "model": f"{v.kind}/{v.name}", "version": str(v.version),
             "trigger": str(v.meta.get("trigger") or v.meta.get("reason") or ""),
             "decision": str(v.meta.get("decision") or ""), "alias": ",".join(v.aliases) or "-"}
            for v in sorted(rows, key=lambda v: (v.created_at, v.kind, v.version), reverse=True)]
