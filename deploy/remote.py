"""Running shell scripts and rsync on the Pi through the user's own `ssh`, with clear failures."""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
from dataclasses import dataclass
from importlib import resources

from edgesign.core.text import printable
from edgesign.deploy.errors import DeployError
from edgesign.deploy.target import Target

log = logging.getLogger(__name__)

#: ssh's own exit status for connection and authentication failures.
SSH_FAILED = 255
#: ssh's own refusal ("Permission denied (publickey,password)."), not rsync's "opendir ...
#: failed: Permission denied (13)" for a file the login may not read, which is no key problem.
_SSH_REFUSED_RE = re.compile(r"permission denied(?: \((?!\d)[a-z-]+[,)]|, please try again)")
#: rsync exit statuses that mean the link to the other side broke.
RSYNC_LINK_ERRORS = {10, 12, 20, 30, 35, 255}
#: most characters of the Pi's own messages shown in an error: enough for rsync's or a script's
#: last lines, not a terminal's worth
PI_TEXT_LIMIT = 600


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def fields(self) -> dict:
        """`key=value` lines of stdout as a dict (what the remote scripts print)."""
        out = {}
        for line in self.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.isidentifier():
                out[key] = value
        return out


def script_text(name: str) -> str:
    """The text of one of the remote shell scripts shipped in this package."""
    return resources.files(__package__).joinpath(name).read_text()


def explain_ssh_failure(target: Target, stderr: str) -> str:
    """One sentence on why ssh could not get a shell on the target."""
    # the Pi (or anything on the way) writes this: escape sequences in it must not reach the
    # terminal
    text = "\n".join(printable(line, PI_TEXT_LIMIT) for line in stderr.strip().splitlines())
    low = text.lower()
    where = target.describe()
    if "permission denied" in low:
        return (
            f"{where} refused the login (key not accepted): check --identity / your ssh agent, "
            "and that your public key is in ~/.ssh/authorized_keys on the Pi "
            f"({text.splitlines()[-1]})"
        )
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return (
            f"{where}: host key verification failed: the Pi's key is not (or no longer) in your "
            "known_hosts. Connect once with `ssh HOST` to accept it (or pass -o "
            "StrictHostKeyChecking=accept-new); if the Pi was reinstalled, `ssh-keygen -R HOST` "
            "first"
        )
    for marker in (
        "could not resolve",
        "connection refused",
        "no route to host",
        "timed out",
        "network is unreachable",
        "connection closed",
        "connection reset",
        "broken pipe",
    ):
        if marker in low:
            return f"cannot reach {where}: {text.splitlines()[-1]}"
    return f"ssh to {where} failed: {text.splitlines()[-1] if text else 'no message'}"


class Remote:
    """One Pi: run scripts there and copy files to and from it."""

    def __init__(self, target: Target, echo=None):
        self.target = target
        self.echo = echo or (lambda line: None)

    def run(
        self, script: str, *args: str, what: str, check: bool = True, timeout: float = 1800
    ) -> Result:
        """Run a POSIX sh `script` with `args` on the Pi; DeployError naming `what` on failure."""
        # The script travels as one quoted argument (not on stdin) so commands inside may read
        # stdin.
        command = " ".join(
            ["/bin/sh", "-c", shlex.quote(script), "edgesign-deploy"]
            + [shlex.quote(str(a)) for a in args]
        )
        argv = self.target.ssh_argv() + ["-T", self.target.host, command]
        log.debug("ssh: %s", what)
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
            )
        except FileNotFoundError:
            raise DeployError(
                "no `ssh` client found on this computer (apt install openssh-client)"
            ) from None
        except subprocess.TimeoutExpired:
            raise DeployError(
                f"{what}: no answer from {self.target.describe()} within {timeout:.0f} s"
            ) from None
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if proc.returncode == SSH_FAILED:
            raise DeployError(f"{what}: {explain_ssh_failure(self.target, proc.stderr)}")
        if check and proc.returncode != 0:
            raise DeployError(
                f"{what} failed on {self.target.describe()} (exit {proc.returncode}): "
                f"{pi_tail(proc.stderr or proc.stdout)}"
            )
        return result

    def run_file(
        self, name: str, *args: str, what: str, check: bool = True, timeout: float = 1800
    ) -> Result:
        return self.run(script_text(name), *args, what=what, check=check, timeout=timeout)

    def rsync(self, sources: list, dest: str, *, what: str, options=(), upload: bool = True) -> str:
        """rsync local `sources` to remote `dest` (or remote sources to a local `dest` if not
        upload); returns what rsync printed (its --info lines)."""
        if upload:
            paths = [str(s) for s in sources] + [f"{self.target.host}:{dest}"]
        else:
            paths = [f"{self.target.host}:{s}" for s in sources] + [str(dest)]
        argv = [
            "rsync",
            "-a",
            "--partial-dir=.rsync-partial",
            "-e",
            self.target.rsync_rsh(),
            *options,
            "--",
            *paths,
        ]
        log.debug("rsync: %s", argv)
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        except FileNotFoundError:
            raise DeployError("no `rsync` on this computer (apt install rsync)") from None
        if proc.returncode == 0:
            return proc.stdout
        err = proc.stderr.strip()
        if "command not found" in err or "rsync: not found" in err:
            raise DeployError(
                f"{what}: rsync is not installed on {self.target.describe()} "
                "(sudo apt install rsync on the Pi)"
            )
        if (
            _SSH_REFUSED_RE.search(err.lower())
            or "host key" in err.lower()
            or "could not resolve" in err.lower()
            or "connection refused" in err.lower()
        ):
            raise DeployError(f"{what}: {explain_ssh_failure(self.target, err)}")
        if proc.returncode in RSYNC_LINK_ERRORS:
            raise DeployError(
                f"{what}: the connection to {self.target.describe()} dropped during the "
                f"transfer (rsync exit {proc.returncode}): {pi_tail(err)}"
            )
        raise DeployError(f"{what}: rsync failed (exit {proc.returncode}): {pi_tail(err)}")


def pi_tail(text: str, lines: int = 6) -> str:
    """The last `lines` lines of what the Pi printed, as one escaped line (`printable`)."""
    text = text.strip()
    return printable(" | ".join(text.splitlines()[-lines:]), PI_TEXT_LIMIT) if text else "no output"
