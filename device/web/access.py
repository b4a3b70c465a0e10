"""Who may see the live view: the address it listens on, its token (from a 0600 file or the
environment, never the command line) and the warning when it is open beyond this computer."""

from __future__ import annotations

import ipaddress
import os
import stat

from edgesign.core.errors import EdgesignError
from edgesign.core.text import printable

#: the environment variable `run` and `enroll` read the token from (kept out of `ps`)
TOKEN_ENV = "EDGESIGN_WEB_TOKEN"


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """'PORT', 'HOST:PORT' or '[IPv6]:PORT' -> (host, port); loopback unless a host is given."""
    text = str(text).strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = default_host, text
    host = host.strip("[]") or default_host
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise EdgesignError(f"--web {text}: expected PORT or HOST:PORT with a port 0-65535")
    return host, number


def web_token(given: str | None, file: str | None, environ=None) -> str | None:
    """The view's token: --web-token, else --web-token-file, else $EDGESIGN_WEB_TOKEN; None if
    none is set. An empty token is refused rather than read as "no token".

    The file and the environment keep the token out of `ps` and the unit file; the file must be
    readable by its owner only, as ssh asks of a key.
    """
    environ = os.environ if environ is None else environ
    if given is not None and file is not None:
        raise EdgesignError("give --web-token or --web-token-file, not both")
    if file is not None:
        try:
            mode = os.stat(file).st_mode
            if not stat.S_ISREG(mode):  # a FIFO would block the read for ever
                raise EdgesignError(
                    f"--web-token-file {printable(file)}: not a regular file (a pipe or a device)"
                )
            if mode & 0o077:
                raise EdgesignError(
                    f"--web-token-file {printable(file)}: others can read or change it "
                    f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"
                )
            with open(file, encoding="utf-8") as stream:
                given, where = stream.read(4097), f"--web-token-file {printable(file)}"
        except OSError as exc:
            raise EdgesignError(
                f"--web-token-file {printable(file)}: cannot read it ({exc.strerror or exc})"
            ) from None
        except UnicodeDecodeError:
            raise EdgesignError(f"--web-token-file {printable(file)}: not UTF-8 text") from None
        given = given.strip()
    elif given is not None:
        where = "--web-token"
    elif environ.get(TOKEN_ENV) is not None:
        given, where = environ[TOKEN_ENV], TOKEN_ENV
    else:
        return None
    if not given.strip():
        raise EdgesignError(f"{where} is empty: give a token, or leave it out for no token")
    if len(given) > 4096 or any(c.isspace() or not c.isprintable() for c in given):
        raise EdgesignError(f"{where}: a token is one word of at most 4096 printable characters")
    return given


def network_warning(host: str, token: str | None) -> str | None:
    """What to say loudly when the view is served beyond this computer without a token."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() == "localhost"
    if loopback or token:
        return None
    return (
        f"the live view on {host} has no token: ANYONE on your network can watch the camera. "
        f"Set {TOKEN_ENV} or --web-token-file (or serve 127.0.0.1 only)"
    )
