"""User-facing errors: what is wrong and how to fix it, reported without a traceback."""


class EdgeoptError(Exception):
    """A problem with the user's input or environment, with a hint on how to fix it.

    The CLI prints `error: <message>` and `hint: <hint>` on stderr and exits with code 2.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty), at most 300 characters."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
