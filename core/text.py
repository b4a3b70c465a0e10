"""Names from files (labels, file names) made safe to print on a terminal.

A label or a file name may hold escape sequences (clear the screen, set the window title) or be
megabytes long; `printable` shows control characters as escapes and cuts long text short.
"""

from __future__ import annotations

#: longest text printed for one name; the rest is cut and marked with an ellipsis
DISPLAY_LIMIT = 64
#: longest path shown in an error: long enough to tell which file, short of a screenful
PATH_LIMIT = 300


def printable(text, limit: int = DISPLAY_LIMIT) -> str:
    """`text` with non-printable characters escaped (\\x1b, \\n, \\u200b) and at most `limit`
    characters of it shown."""
    text = str(text)
    cut = len(text) > limit
    text = text[:limit]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escape(c) for c in text)
    return text + ("…" if cut else "")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
