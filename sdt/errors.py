"""Errors a user can fix: the CLI prints them as one short message and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user. ``str()`` is the whole message; no traceback is shown."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration problem, located by file and dotted key.

    >>> str(ConfigError("exp.yaml", "training.lr_encoder", "a number > 0", got=-1))
    'exp.yaml: training.lr_encoder: expected a number > 0, got -1'
    """

    def __init__(self, file, key: str | None, expected: str | None, got=None,
                 hint: str | None = None):
        self.file, self.key, self.expected, self.got, self.hint = str(file), key, expected, got, hint
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        if expected is None:  # the hint says it all ("unknown key; did you mean ...")
            super().__init__(where + (hint or "invalid"))
            return
        msg = f"{where}expected {expected}"
        if got is not None:
            msg += f", got {got!r}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
