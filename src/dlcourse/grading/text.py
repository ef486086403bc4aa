"""One-line messages: the first line of an error, as a row's detail or a one-line problem shows it; and text made
safe for the instructor's terminal (``printable``, ``printable_lines``)."""

from __future__ import annotations


def first_line(text: str | None, limit: int | None = None) -> str:
    """The first line of ``text`` that is not blank, stripped, cut to ``limit`` characters ("" if none)."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def error_line(name: str, message: str | None, limit: int | None = None) -> str:
    """``"Name: first line of message"`` (cut to ``limit``), or ``name`` alone when the message is blank.

    ``name`` is an exception's type name (``type(err).__name__``, or a notebook error output's ``ename``)."""
    line = first_line(message)
    return (f"{name}: {line}"[:limit] if limit is not None else f"{name}: {line}") if line else name


def error_of(err: BaseException, limit: int | None = None) -> str:
    """``error_line`` of a raised exception: its type's name and its message's first line."""
    return error_line(type(err).__name__, str(err), limit)


def printable(text: str) -> str:
    """``text`` safe for the instructor's terminal: control characters (an ESC sequence in a student id taken
    from a folder or LMS file name could retitle the window, or write the clipboard) are shown escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def printable_lines(text: str) -> str:
    """``printable`` of each line of ``text``, its line breaks (``\\n``) kept: a message of several lines (an
    error listing the layouts looked for) stays readable, and every other control character (``\\r`` included,
    which could overwrite a line) is shown escaped."""
    return "\n".join(printable(line) for line in str(text).split("\n"))
