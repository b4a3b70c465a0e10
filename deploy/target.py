"""Where a deploy goes: a validated `[user@]host`, the ssh options to reach it, and the remote folder."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .errors import DeployError

# A user name and a DNS name, IPv4 address or ssh_config alias; IPv6 in brackets. Nothing a
# shell, ssh or rsync could read as an option or a command (no leading '-', no spaces or quotes).
_USER = r"[A-Za-z_][A-Za-z0-9._-]{0,31}"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})"
_IPV6 = r"\[[0-9A-Fa-f:.]+\]"
_HOST_RE = re.compile(rf"^(?:(?P<user>{_USER})@)?(?P<host>{_NAME}|{_IPV6})$")
# Remote folders: relative to the login's home or absolute; plain path characters only.
_REMOTE_DIR_RE = re.compile(r"^(?:/|~/)?[A-Za-z0-9._/-]+$")
# ssh -o values we pass through: `Key=value` or `Key value` without shell metacharacters.
_SSH_OPTION_RE = re.compile(r"^[A-Za-z]+[= ][A-Za-z0-9@%:.,/_+=~ -]+$")

DEFAULT_REMOTE_DIR = "edgesign"


def validate_host(text: str) -> str:
    """Return `text` if it is a safe `[user@]host`, else raise DeployError saying why."""
    if not text:
        raise DeployError("no host given: pass --host USER@HOST (or PI=user@host to make)")
    if not _HOST_RE.match(text):
        raise DeployError(f"host {text!r} is not a plain [user@]hostname: only letters, digits, "
                          "'.', '-', '_' (and one '@') are allowed, and it may not start with '-'")
    return text


def validate_remote_dir(text: str) -> str:
    """Return a safe remote folder (relative to home, `~/...` or absolute), else raise DeployError."""
    parts = text.split("/")
    if not _REMOTE_DIR_RE.match(text) or ".." in parts or any(p.startswith("-") for p in parts):
        raise DeployError(f"remote folder {text!r} must be a plain path (letters, digits, '.', '_', "
                          "'-', '/'), relative to the home folder or absolute, without '..' or a leading '-'")
    if text.startswith("~/"):
        text = text[2:]
    return text.rstrip("/") or "/"


def remote_path_expr(path: str) -> str:
    """A shell word for `path` on the remote side: relative paths are anchored at "$HOME"."""
    if path.startswith("/"):
        return shlex.quote(path)
    return '"$HOME"/' + shlex.quote(path)


@dataclass
class Target:
    """A Pi reachable with the user's own ssh: host plus optional port, key and ssh_config."""

    host: str
    port: Optional[int] = None
    identity: Optional[Path] = None
    ssh_config: Optional[Path] = None
    ssh_options: list = field(default_factory=list)
    remote_dir: str = DEFAULT_REMOTE_DIR
    connect_timeout: int = 10

    def __post_init__(self):
        validate_host(self.host)
        self.remote_dir = validate_remote_dir(self.remote_dir)
        if self.port is not None and not 0 < int(self.port) < 65536:
            raise DeployError(f"port {self.port} is not a TCP port number")
        for option in self.ssh_options:
            if not _SSH_OPTION_RE.match(option):
                raise DeployError(f"ssh option {option!r} is not of the form Key=value")

    def ssh_argv(self) -> list:
        """`ssh` and its options (BatchMode: a missing key fails fast instead of asking for a password)."""
        argv = ["ssh"]
        if self.ssh_config:
            argv += ["-F", str(self.ssh_config)]
        if self.port:
            argv += ["-p", str(int(self.port))]
        if self.identity:
            argv += ["-i", str(self.identity)]
        argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}",
                 "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        for option in self.ssh_options:
            argv += ["-o", option]
        return argv

    def rsync_rsh(self) -> str:
        """The `rsync -e` value: the same ssh command, quoted for rsync's own word splitting."""
        return " ".join(shlex.quote(a) for a in self.ssh_argv())

    def describe(self) -> str:
        port = f" port {self.port}" if self.port else ""
        return f"{self.host}{port}"
