"""Structured logging with structlog: JSON or console output, secrets redacted everywhere."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from stdnum import luhn
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authori[sz]ation|cookie|credential|api_?key|"
    r"card_?number|pan|cvv|cvc|private_?key|signature",
    re.IGNORECASE,
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/\-]+=*")
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b((?:[a-z_]*_)?(?:password|passwd|secret|token|api_?key|authorization))"
    r"(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_CARD_NUMBER = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")
_MAX_DEPTH = 8


def _normalise_key(key: object) -> str:
    """Turn `accessToken`, `access-token` and `ACCESS_TOKEN` into one comparable form."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(key))
    return text.replace("-", "_").lower()


def is_sensitive_key(key: object) -> bool:
    """Whether a mapping key names a value that must never be logged."""
    normalised = _normalise_key(key)
    return any(
        _SENSITIVE_KEY.fullmatch(part) for part in [normalised, *normalised.split("_")]
    ) or bool(_SENSITIVE_KEY.fullmatch(normalised.replace("_", "")))


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return REDACTED if luhn.is_valid(digits) else match.group(0)


def redact_text(text: str) -> str:
    """Mask bearer tokens, JWTs and card numbers that appear inside free text."""
    text = _BEARER.sub(f"Bearer {REDACTED}", text)
    text = _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _CARD_NUMBER.sub(_mask_card, text)


def redact(value: Any, depth: int = 0) -> Any:
    """Return a copy of a log value with sensitive keys and secret-looking text masked."""
    if depth > _MAX_DEPTH:
        return "[TRUNCATED]"
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_sensitive_key(key) else redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(item, depth + 1) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Structlog processor applying `redact` to every field of every log event."""
    cleaned: MutableMapping[str, Any] = {}
    for key, item in event_dict.items():
        if key == "color_message":  # uvicorn's duplicate of `event` with terminal escapes
            continue
        cleaned[key] = REDACTED if is_sensitive_key(key) else redact(item)
    return dict(cleaned)


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Send structlog and stdlib logging (uvicorn, SQLAlchemy, Alembic) through one pipeline."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        # Plain tracebacks: rich's would print local variables, which can hold secrets.
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    final: list[Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info if json else _keep,
        redact_processor,
        renderer,
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # drop disabled levels before any work
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=final,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our middleware writes one access line per request; uvicorn's own would duplicate it.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


def _keep(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    return event_dict


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger for a module."""
    return structlog.stdlib.get_logger(name)
