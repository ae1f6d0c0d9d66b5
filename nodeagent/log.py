"""Logging set-up: structlog, a console renderer on a terminal, JSON lines otherwise; no `rich`.

`import structlog` imports its `dev` and `tracebacks` modules, which import `rich` whenever it is
installed (a dev tool, import-linter, brings it): 5.5 MiB of resident memory on every host for
colours nobody sees in a journal. `import_structlog()` imports structlog with `rich` hidden, so
structlog falls back to its own plain renderers; the command line calls it before anything else.

Exceptions are rendered without local variables (no `show_locals` anywhere): see
exceptions_without_locals().
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType
from typing import Any

HIDDEN_FROM_STRUCTLOG = ("rich",)


def import_structlog() -> ModuleType:
    """structlog; on its first import in this process, imported as if `rich` were absent.

    Only the import is affected: `rich` stays importable for anyone else afterwards."""
    if "structlog" in sys.modules:
        return sys.modules["structlog"]
    hidden = [name for name in HIDDEN_FROM_STRUCTLOG if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        return importlib.import_module("structlog")
    finally:
        for name in hidden:
            del sys.modules[name]


def exceptions_without_locals() -> Any:
    """structlog's dict tracebacks minus their default `show_locals=True`: a frame's local
    variables can hold anything (the Authenticator with the admin token, a request body),
    and a log line must never carry a secret. Frames keep file, line and function."""
    import structlog

    transformer = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    return structlog.processors.ExceptionRenderer(transformer)


class _AiohttpRecords(logging.Handler):
    """aiohttp's own log records (a request it could not parse, an unhandled error) as one
    structlog line each: the record's message and the exception's type, never the exception's
    text or traceback. aiohttp puts the offending bytes in a parse error's text, so a
    malformed header line, an `Authorization` header among them, would reach the log."""

    def emit(self, record: logging.LogRecord) -> None:
        import structlog

        fields: dict[str, Any] = {"logger": record.name, "message": record.getMessage()}
        if record.exc_info and record.exc_info[0] is not None:
            fields["error_type"] = record.exc_info[0].__name__
        logger = structlog.get_logger()
        event = "aiohttp_" + record.levelname.lower()
        if record.levelno >= logging.ERROR:
            logger.error(event, **fields)
        elif record.levelno >= logging.WARNING:
            logger.warning(event, **fields)
        else:
            logger.debug(event, **fields)


def _route_aiohttp_records() -> None:
    aiohttp_log = logging.getLogger("aiohttp")
    aiohttp_log.handlers = [_AiohttpRecords()]
    aiohttp_log.propagate = False


def configure(*, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog once per process; `json=None` picks JSON unless stderr is a tty."""
    import_structlog()
    import structlog  # after import_structlog: the copy without rich

    use_json = (not sys.stderr.isatty()) if json is None else json
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if use_json:
        processors += [exceptions_without_locals(), structlog.processors.JSONRenderer()]
    else:
        processors += [
            structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _route_aiohttp_records()
