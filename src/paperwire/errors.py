"""One error family: what happened, the HTTP status it maps to, and what to do next."""

from __future__ import annotations


class PaperwireError(Exception):
    """Base of every error paperwire reports to a person."""

    status = 500

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(PaperwireError):
    """Input that cannot be used as given: a bad path, format, option or value."""

    status = 400


class NotFoundError(PaperwireError):
    """A paper, collection or other named thing that does not exist."""

    status = 404


class ConfigError(PaperwireError):
    """Settings that cannot work together or are unsafe."""

    status = 500


class RemoteError(PaperwireError):
    """A remote source that failed after bounded retries."""

    status = 502
