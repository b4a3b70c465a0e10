"""Where a deploy goes: a validated `[user@]host`, the ssh options to reach it, and the remote
folder."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from edgesign.core.text import PATH_LIMIT, printable
from edgesign.deploy.errors import DeployError

# A user name and a DNS name, IPv4 address or ssh_config alias. Nothing a shell, ssh or rsync
# could read as an option or a command (no leading '-', no spaces or quotes). Patterns are matched
# whole (`fullmatch`): `$` would accept a trailing newline.
_USER = r"[A-Za-z_][A-Za-z0-9._-]{0,31}"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})"
_HOST_RE = re.compile(rf"(?:(?P<user>{_USER})@)?(?P<host>{_NAME})")
# Remote folders: relative to the login's home or absolute; plain path characters only.
_REMOTE_DIR_RE = re.compile(r"(?:/|~/)?[A-Za-z0-9._/-]+")
# ssh -o values we pass through: `Key=value` or `Key value` without shell metacharacters.
_SSH_OPTION_RE = re.compile(r"(?P<key>[A-Za-z0-9]+)[= ][A-Za-z0-9@%:.,/_+=~ -]+")
#: The ssh options -o accepts: how to reach and authenticate the Pi, nothing else. An allowlist,
#: because ssh keeps gaining options that run or load something on THIS computer (ProxyCommand,
#: LocalCommand, KnownHostsCommand, XAuthLocation with ForwardX11, PKCS11Provider, ...) or open
#: a way back in (forwarding); a user who trusts one puts it in their own ~/.ssh/config.
SSH_OPTIONS_ALLOWED = frozenset(
    name.lower()
    for name in (
        "AddressFamily",
        "BatchMode",
        "BindAddress",
        "BindInterface",
        "CASignatureAlgorithms",
        "CertificateFile",
        "CheckHostIP",
        "Ciphers",
        "Compression",
        "ConnectionAttempts",
        "ConnectTimeout",
        "ControlMaster",
        "ControlPath",
        "ControlPersist",
        "FingerprintHash",
        "GlobalKnownHostsFile",
        "HashKnownHosts",
        "HostbasedAcceptedAlgorithms",
        "HostKeyAlgorithms",
        "HostKeyAlias",
        "HostName",
        "IdentitiesOnly",
        "IdentityFile",
        "IPQoS",
        "KbdInteractiveAuthentication",
        "KexAlgorithms",
        "LogLevel",
        "MACs",
        "NumberOfPasswordPrompts",
        "PasswordAuthentication",
        "Port",
        "PreferredAuthentications",
        "PubkeyAcceptedAlgorithms",
        "PubkeyAcceptedKeyTypes",
        "PubkeyAuthentication",
        "RekeyLimit",
        "RequiredRSASize",
        "ServerAliveCountMax",
        "ServerAliveInterval",
        "StrictHostKeyChecking",
        "TCPKeepAlive",
        "UpdateHostKeys",
        "User",
        "UserKnownHostsFile",
        "VerifyHostKeyDNS",
    )
)

DEFAULT_REMOTE_DIR = "edgesign"


#: largest ssh config an inventory may name (`-F FILE`), in bytes
SSH_CONFIG_BYTES = 64 * 1024


def check_ssh_config(path: Path, host: str) -> Path:
    """The ssh config an inventory names for `host` (`-F FILE` in ansible_ssh_common_args), or
    DeployError: an absolute path to a small regular file of `Host` lines and the options `-o`
    allows. Ansible's ssh and the upload both read it, and a ProxyCommand, LocalCommand, Match
    exec or Include in it ran a program on this computer (round 6), dry runs too."""
    shown = printable(str(path), PATH_LIMIT)
    if not path.is_absolute():
        raise DeployError(f"{host}: -F {shown}: an inventory's ssh config must be an absolute path")
    if not path.is_file() or path.stat().st_size > SSH_CONFIG_BYTES:
        raise DeployError(f"{host}: -F {shown}: not a regular file of at most 64 KB")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployError(f"{host}: -F {shown}: cannot be read ({exc})") from None
    for number, line in enumerate(text.splitlines(), 1):
        words = re.split(r"[\s=]+", line.strip(), maxsplit=1)
        key = words[0].lower()
        if key and not key.startswith("#") and key != "host" and key not in SSH_OPTIONS_ALLOWED:
            raise DeployError(
                f"{host}: -F {shown}, line {number}: {printable(words[0])} is not an option "
                "an inventory's ssh config may set (some run a program on this computer); "
                "use Host lines and -o options only, or put it in your own ~/.ssh/config"
            )
    return path


def validate_host(text: str) -> str:
    """Return `text` if it is a safe `[user@]host`, else raise DeployError saying why."""
    if not text:
        raise DeployError("no host given: pass --host USER@HOST (or PI=user@host to make)")
    if "[" in text or text.count(":") >= 2:
        raise DeployError(
            f"host {text!r}: IPv6 addresses are not supported in --host (ssh and "
            "rsync write them differently); name the Pi in ~/.ssh/config (Host mypi, "
            "HostName fe80::1%eth0) and pass --host mypi"
        )
    if not _HOST_RE.fullmatch(text):
        raise DeployError(
            f"host {text!r} is not a plain [user@]hostname: only letters, digits, "
            "'.', '-', '_' (and one '@') are allowed, and it may not start with '-'"
        )
    return text


def validate_ssh_option(option: str) -> str:
    """Return an `-o` value if it is a plain `Key=value` of an allowed option."""
    found = _SSH_OPTION_RE.fullmatch(option)
    if not found:
        raise DeployError(
            f"ssh option {option!r} is not of the form Key=value (letters, "
            "digits and @ % : . , / _ + = ~ - only)"
        )
    if found.group("key").lower() not in SSH_OPTIONS_ALLOWED:
        raise DeployError(
            f"ssh option {found.group('key')} is not one edgesign passes with -o (only "
            "options for reaching and authenticating the Pi; some others run a command or "
            "load code on this computer): if you trust it, put it in your "
            "~/.ssh/config under a Host alias and pass that alias as --host"
        )
    return option


def validate_remote_dir(text: str) -> str:
    """Return a safe remote folder (relative to home, `~/...` or absolute), else raise
    DeployError."""
    original, parts = text, text.split("/")
    if not _REMOTE_DIR_RE.fullmatch(text) or ".." in parts or any(p.startswith("-") for p in parts):
        raise DeployError(
            f"remote folder {text!r} must be a plain path (letters, digits, '.', '_', "
            "'-', '/'), relative to the home folder or absolute, without '..' or a leading '-'"
        )
    if text.startswith("~/"):
        text = text[2:]
    text = text.rstrip("/")
    # "/" (and "~/", which came out as "/") would make pull-data scan the whole Pi and a deploy
    # write releases/ and current into the root folder; home itself is no edgesign folder either
    if text in ("", ".") or set(text.split("/")) <= {"", "."}:
        raise DeployError(
            f"remote folder {original!r} is the Pi's root or home folder itself: name the "
            "folder below it (e.g. edgesign or data/collected)"
        )
    return text


def remote_path_expr(path: str) -> str:
    """A shell word for `path` on the remote side: relative paths are anchored at "$HOME"."""
    if path.startswith("/"):
        return shlex.quote(path)
    return '"$HOME"/' + shlex.quote(path)


@dataclass
class Target:
    """A Pi reachable with the user's own ssh: host plus optional port, key and ssh_config."""

    host: str
    port: int | None = None
    identity: Path | None = None
    ssh_config: Path | None = None
    ssh_options: list = field(default_factory=list)
    remote_dir: str = DEFAULT_REMOTE_DIR
    connect_timeout: int = 10

    def __post_init__(self):
        validate_host(self.host)
        self.remote_dir = validate_remote_dir(self.remote_dir)
        if self.port is not None and not 0 < int(self.port) < 65536:
            raise DeployError(f"port {self.port} is not a TCP port number")
        for option in self.ssh_options:
            validate_ssh_option(option)

    def ssh_argv(self) -> list:
        """`ssh` and its options (BatchMode: a missing key fails fast instead of asking for a
        password)."""
        argv = ["ssh"]
        if self.ssh_config:
            argv += ["-F", str(self.ssh_config)]
        if self.port:
            argv += ["-p", str(int(self.port))]
        if self.identity:
            argv += ["-i", str(self.identity)]
        argv += [
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
        ]
        for option in self.ssh_options:
            argv += ["-o", option]
        return argv

    def rsync_rsh(self) -> str:
        """The `rsync -e` value: the same ssh command, quoted for rsync's own word splitting."""
        return " ".join(shlex.quote(a) for a in self.ssh_argv())

    def describe(self) -> str:
        port = f" port {self.port}" if self.port else ""
        return f"{self.host}{port}"
