"""Names from files (labels, file names) made safe to print on a terminal.

A label or a file name may hold escape sequences (clear the screen, set the window title) or be
megabytes long; `printable` shows control characters as escapes and cuts long text short.
"""

from __future__ import annotations

#: longest text printed for one name; its middle is cut and marked with an ellipsis
DISPLAY_LIMIT = 64
#: longest path shown in an error: long enough to tell which file, short of a screenful
PATH_LIMIT = 300


def printable(text, limit: int = DISPLAY_LIMIT) -> str:
    """`text` with non-printable characters escaped (\\x1b, \\n, \\u200b) and at most `limit`
    characters of it shown: its start and its end (where a path names its file), "…" between."""
    text = str(text)
    if len(text) > limit:
        head = limit // 2
        return _escaped(text[:head]) + "…" + _escaped(text[head - limit :])
    return _escaped(text)


def _escaped(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
