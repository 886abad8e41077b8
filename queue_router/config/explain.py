"""Pydantic's validation errors, said in env var names with the allowed values."""

from __future__ import annotations

from pydantic import AliasChoices, ValidationError
from pydantic_settings import BaseSettings

__all__ = ["explain"]

_ALLOWED = {
    "bool_parsing": "allowed: true/false, 1/0, yes/no",
    "literal_error": "allowed: {expected}",
    "enum": "allowed: {expected}",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "greater_than": "must be > {gt}",
    "less_than": "must be < {lt}",
    "multiple_of": "at most two decimals",
    "float_parsing": "must be a number",
    "int_parsing": "must be a whole number",
    "json_invalid": "must be valid JSON",
}


def env_name(model: type[BaseSettings], field: str) -> str:
    """The env var a field is read from (its first alias), upper-cased field name if none."""
    info = model.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias) if isinstance(alias, str) else field.upper()


def _where(model: type[BaseSettings], loc: list[str]) -> str:
    if not loc:
        return "settings"
    if loc[0] == "domain_backends" and len(loc) > 1:
        return f"{loc[1].upper()}_QUEUE_BACKEND"
    head = env_name(model, loc[0])
    if len(loc) > 1 and head == "QUEUE_ROUTER_QUEUES":
        return f"QUEUE_ROUTER_QUEUES[{loc[1]!r}]" + "".join(f".{p}" for p in loc[2:])
    return head


def explain(exc: ValidationError, model: type[BaseSettings]) -> list[str]:
    """One line per problem: ``ENV_VAR='value': what is allowed``."""
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        ctx = dict(err.get("ctx") or {})
        if err["type"] == "value_error":
            lines.append(f"{_where(model, loc)}: {ctx.get('error', err['msg'])}")
            continue
        template = _ALLOWED.get(err["type"])
        hint = template.format(**ctx) if template else err["msg"]
        if (
            err["type"] in ("less_than_equal", "greater_than_equal")
            and "PERCENTAGE" in loc[-1].upper()
        ):
            hint = "must be a number from 0 to 100"
        shown = err.get("input")
        value = f"={shown!r}" if isinstance(shown, str | int | float) else ""
        lines.append(f"{_where(model, loc)}{value}: {hint}")
    return lines
