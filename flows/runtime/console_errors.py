"""Flows layer (runtime): keep Prefect's report of a user error off the terminal.

A user mistake raised inside a flow (schemas.errors.UserError, an invalid value) is the CLI's
one line on stderr (flows.cli.common.user_errors). Prefect also logs it, with its traceback,
once per task run and flow run it passes through; those records still go to the run's logs on
the server (the API handler), only the console handlers drop them.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from schemas.errors import UserError

USER_ERRORS = (UserError, ValidationError)
# Prefect's one-line state messages name the exception's class, e.g.
# "Finished in state Failed('Task run encountered an exception UserError: ...')".
_NAMES = tuple(cls.__name__ for cls in USER_ERRORS)


def is_user_error_record(record: logging.LogRecord) -> bool:
    if record.exc_info and isinstance(record.exc_info[1], USER_ERRORS):
        return True
    if record.levelno < logging.INFO or not record.name.startswith(("prefect.flow_runs", "prefect.task_runs")):
        return False
    message = record.getMessage()
    return any(f"{name}(" in message or f"{name}:" in message for name in _NAMES)


class DropUserErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_user_error_record(record)


def quiet_user_errors() -> None:
    """Add the filter to every console handler Prefect configured (root and its own loggers);
    its API handlers, which feed the run's logs, are left alone. Idempotent."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import APILogHandler

    ensure_logging_setup()  # Prefect (re)builds its handlers once: filters go on those

    loggers = [logging.getLogger()] + [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                                       if name.startswith("prefect")]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, APILogHandler) or any(isinstance(f, DropUserErrors) for f in handler.filters):
                continue
            handler.addFilter(DropUserErrors())
