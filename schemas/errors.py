"""Schemas layer: the error types every layer may raise.

`UserError` marks a mistake the user can fix (bad path, bad flag, bad config): the CLI prints
its message on one line and exits non-zero, never a traceback. Anything else is a bug.
"""


class UserError(Exception):
    """A problem with the user's input, reported as one clear line."""


class ConfigError(UserError):
    """A pipeline config that does not validate; the message names the key and line."""


class WarehouseBusyError(UserError):
    """Another process holds the warehouse for writing."""
