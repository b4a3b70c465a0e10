"""What a class name may be: one rule for collect (folder names), train, convert and bundles.

A class name becomes a folder name (`collect`, image folders), a line of labels.txt and a word
printed on a terminal, so it must survive all three unchanged. Names are compared and kept in
Unicode NFC (`canonical`): "Ä" typed as one character or as "A" plus a combining mark (as macOS
spells file names) is one class, not two.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from edgesign.core.errors import EdgesignError

#: longest class name, in characters: a word or a short phrase, not a paragraph
MAX_NAME_LENGTH = 64


def canonical(name):
    """`name` in Unicode NFC, the one spelling of a class name edgesign keeps (non-text as is)."""
    return unicodedata.normalize("NFC", name) if isinstance(name, str) else name


def name_problem(name) -> str | None:
    """Why `name` cannot be a class name, or None when it can."""
    if not isinstance(name, str):
        return f"{name!r} is not text"
    if not name:
        return "a class name must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"{name[:20]!r}... is {len(name)} characters long, more than {MAX_NAME_LENGTH}"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in name):
        return f"{name!r} holds control characters (newlines, escapes)"
    if "/" in name or "\\" in name:
        return f"{name!r} holds a slash"
    if name in (".", "..") or name.startswith((".", "_")):
        return f"{name!r} starts with '.' or '_' (such folders are not classes)"
    if name != name.strip():
        return f"{name!r} starts or ends with a space"
    return None


def check_class_name(name, where: str = "class name") -> str:
    """`name` in NFC (`canonical`), or EdgesignError naming `where` when it cannot be a class
    name."""
    problem = name_problem(name)
    if problem:
        raise EdgesignError(f"{where}: not a usable class name: {problem}")
    return canonical(name)


def check_class_names(names: Iterable, where: str = "classes") -> list:
    """The names as a list in NFC; EdgesignError for a bad name, a duplicate (also one spelled
    twice in Unicode) or a non-list."""
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise EdgesignError(f"{where}: expected a list of class names, not {type(names).__name__}")
    names = [check_class_name(name, where) for name in names]
    seen = set()
    for name in names:
        if name in seen:
            raise EdgesignError(f"{where}: {name!r} appears twice")
        seen.add(name)
    return names
