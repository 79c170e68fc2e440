"""The root of every domain error: a named condition with a translated message for the user."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A rule said no. Views turn it into a message on the same page and a 4xx status."""

    status: ClassVar[int] = 422
    default_message: ClassVar[Any] = "This cannot be done."

    def __init__(self, message: Any = None, *, field: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        # The form field the message belongs to, when there is one.
        self.field = field
        super().__init__(str(self.message))


class NotFound(DomainError):
    """The object does not exist, or the actor may not know that it does."""

    status = 404
