"""Reading the YAML with line numbers, and turning validation errors into messages a person acts on.

The message form is `FILE:LINE key.path: what is wrong (got VALUE)`, every error at once.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

Loc = tuple[str | int, ...]
log = logging.getLogger("segsync.config")
#: Values (scalars, mappings, sequences) in a config after aliases are expanded: a real config has
#: a few hundred; a "billion laughs" alias bomb of 300 bytes expands to billions.
MAX_NODES = 100_000


class TooManyNodes(Exception):
    """The YAML expands (through aliases) to more values than any config has."""


def dotted(loc: Loc) -> str:
    """('sources', 'files', 'x') -> 'sources.files.x'; list indexes as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def load_yaml_with_lines(
    text: str, filename: str, interpolate: Callable[[str, str], str]
) -> tuple[Any, dict[Loc, int], list[str]]:
    """Parse YAML into plain dicts/lists, interpolating every string scalar.

    Returns (data, {key path: 1-based line}, errors). Paths whose value came from the
    environment are listed in lines under the key ("env", *path) so that error messages never
    echo them: an environment value may be a secret placed in a field that is not SecretStr.
    """
    yaml = YAML(typ="rt")
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        return None, {}, [f"{filename}:{line}: invalid YAML: {exc.problem or exc}"]
    except YAMLError as exc:  # e.g. a NUL or another character YAML does not allow
        return None, {}, [f"{filename}: invalid YAML: {str(exc).splitlines()[0]}"]
    except RecursionError:
        return None, {}, [f"{filename}: invalid YAML: nested too deeply"]
    lines: dict[Loc, int] = {(): 1}
    errors: list[str] = []
    seen = [0]

    def convert(node: Any, loc: Loc, line: int) -> Any:
        seen[0] += 1
        if seen[0] > MAX_NODES:
            raise TooManyNodes
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for key, value in node.items():
                try:
                    kline = node.lc.key(key)[0] + 1
                except Exception:  # noqa: BLE001 - ruamel has no line for merged keys
                    kline = line
                sub = (*loc, str(key))
                lines[sub] = kline
                out[str(key)] = convert(value, sub, kline)
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for i, value in enumerate(node):
                try:
                    iline = node.lc.item(i)[0] + 1
                except Exception:  # noqa: BLE001
                    iline = line
                lines[(*loc, i)] = iline
                items.append(convert(value, (*loc, i), iline))
            return items
        if isinstance(node, str):
            if "${" in node:
                lines[("env", *loc)] = line
            try:
                return interpolate(str(node), f"{filename}:{line} {dotted(loc)}")
            except Exception as exc:  # noqa: BLE001 - collect every interpolation error
                errors.append(str(exc))
                return str(node)
        return node

    try:
        return convert(doc, (), 1), lines, errors
    except (TooManyNodes, RecursionError):
        return None, {}, [f"{filename}: more than {MAX_NODES:,} values once YAML aliases are expanded; "
                          "not a configuration (an alias bomb?)"]


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class that owns the last key of loc (for 'did you mean')."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


#: Config fields segsync sets from where the file was loaded: never keys of the file.
INTERNAL_KEYS = ("base_dir", "source_file")


def _describe(err: Any, root: type[BaseModel], loc: Loc) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(root, loc)
        allowed = [k for k in (owner.model_fields if owner else {}) if k not in INTERNAL_KEYS]
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key{hint}; allowed: {', '.join(allowed)}"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = expected.replace("'", "").replace(" or ", ", ")
        return f"must be one of {options} (got {got!r})"
    if kind == "missing":
        return "required"
    if kind.startswith("greater_than") or kind.startswith("less_than"):
        return f"{err['msg'].lower()} (got {got!r})"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')} (got {got!r})"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in ("model_type", "dict_type"):
        return f"must be a mapping (got {type(got).__name__})"
    msg = err["msg"]
    return f"{msg[0].lower()}{msg[1:]} (got {got!r})" if got is not None and not isinstance(got, dict) else msg


def render_validation_errors(
    exc: ValidationError, root: type[BaseModel], lines: dict[Loc, int], filename: str
) -> list[str]:
    """Every pydantic error as 'file:line key.path: message', secrets never echoed."""
    merged: dict[Loc, list[str]] = {}
    got: dict[Loc, str] = {}
    for err in exc.errors(include_url=False):
        loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic reports union members as extra loc parts named after the type; drop them
        loc = tuple(p for p in loc if not (isinstance(p, str) and _is_union_tag(p)))
        message, _, value = _describe(err, root, loc).partition(" (got ")
        if _is_secret(root, loc) or ("env", *loc) in lines:
            value = ""
        merged.setdefault(loc, []).append(message)
        if value:
            got[loc] = value
    # a union (e.g. k: int >= 2 | 'auto') fails once per member: say it in one line
    return [
        f"{filename}:{_line_for(loc, lines)} {dotted(loc) or '(top level)'}: {', or '.join(msgs)}"
        + (f" (got {got[loc]}" if loc in got else "")
        for loc, msgs in merged.items()
    ]


def _is_union_tag(part: str) -> bool:
    """pydantic names union members in loc ('constrained-int', "literal['auto']", 'str')."""
    return "[" in part or part.startswith(("constrained-", "function-", "lax-", "json-or-python")) or part in (
        "str", "int", "float", "bool", "none"
    )


def _is_secret(root: type[BaseModel], loc: Loc) -> bool:
    owner = _model_at(root, loc)
    if owner is None or not loc or isinstance(loc[-1], int):
        return False
    field = owner.model_fields.get(str(loc[-1]))
    return field is not None and "SecretStr" in str(field.annotation)


def warn_plaintext_secrets(root: type[BaseModel], data: Any, lines: dict[Loc, int], filename: str) -> list[str]:
    """Warn (and return the key paths) for each secret written literally in the file, not as ${VAR}."""
    found: list[str] = []

    def walk(node: Any, loc: Loc) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*loc, key))
        elif isinstance(node, str) and node and loc and _is_secret(root, loc) and ("env", *loc) not in lines:
            found.append(dotted(loc))
            log.warning("%s:%d %s is written in plain text in the config; put it in the environment and write "
                        "${VAR} instead", filename, _line_for(loc, lines), dotted(loc))

    walk(data, ())
    return found
