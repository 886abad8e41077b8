"""Typos and contradictions in the environment, caught before they route silently.

A misspelled variable (``TEMPORAL_TRAFIC_PERCENTAGE=30``) is read by nothing, so the
router would run at 0% without a word; two aliases of one setting that disagree
(``TEMPORAL_TRAFFIC_PERCENTAGE=30`` and ``TEMPORAL_ROLLOUT=40``) would silently pick one.
The first is warned about with a "did you mean", the second is a ``ConfigError``.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Iterable, Mapping

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from queue_router.errors import ConfigError

__all__ = ["check_aliases", "known_variables", "warn_unknown"]

log = logging.getLogger("queue_router.config")

PREFIXES = ("TEMPORAL_", "QUEUE_ROUTER_", "BULL_")
# Read by the Temporal CLI and SDK themselves (envconfig), not by us: not typos.
FOREIGN = frozenset({
    "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_TLS",
    "TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA", "TEMPORAL_TLS_CERT_DATA",
    "TEMPORAL_TLS_KEY_DATA", "TEMPORAL_TLS_CA_DATA", "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "TEMPORAL_CODEC_ENDPOINT", "TEMPORAL_CODEC_AUTH",
    "TEMPORAL_GRPC_META", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE", "TEMPORAL_ENV",
    "TEMPORAL_CLI_AUTO_CONFIRM",
})  # fmt: skip


def _aliases(model: type[BaseSettings]) -> dict[str, list[str]]:
    """Field name -> every env var that sets it."""
    names: dict[str, list[str]] = {}
    for field, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names[field] = [str(choice) for choice in alias.choices]
        elif isinstance(alias, str):
            names[field] = [alias]
    return names


def known_variables(models: Iterable[type[BaseSettings]], domains: Iterable[str]) -> set[str]:
    known = {var for model in models for vars_ in _aliases(model).values() for var in vars_}
    return known | {f"{d.upper()}_QUEUE_BACKEND" for d in domains}


def warn_unknown(known: set[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Log one warning per variable with our prefixes that nothing reads; return them."""
    environ = os.environ if environ is None else environ
    unread = sorted(
        name for name in environ
        if (name.upper().startswith(PREFIXES) or name.upper().endswith("_QUEUE_BACKEND"))
        and name.upper() not in known and name.upper() not in FOREIGN
    )  # fmt: skip
    for name in unread:
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        log.warning("%s is set but queue-router reads no such variable%s", name, hint)
    return unread


def check_aliases(
    models: Iterable[type[BaseSettings]], environ: Mapping[str, str] | None = None
) -> None:
    """Two names of one setting, both set, with different values: refuse, naming both."""
    environ = os.environ if environ is None else environ
    upper = {name.upper(): value for name, value in environ.items()}
    for model in models:
        for names in _aliases(model).values():
            given = {name: upper[name] for name in names if name in upper}
            if len(set(given.values())) > 1:
                shown = " and ".join(f"{name}={value!r}" for name, value in given.items())
                raise ConfigError(
                    f"invalid settings: {shown} are the same setting with different values; "
                    "unset one of them"
                )
