"""The systemd unit that keeps `edgesign run` going on the Pi, rendered for one user and folder.

Everything that goes into the unit is matched whole (`re.fullmatch`: a `$` would let a trailing
newline through and with it a line of the attacker's choosing), and the rendered text is checked
again line by line before it leaves this computer.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from importlib import resources

from edgesign.deploy.errors import DeployError

UNIT_NAME = "edgesign.service"
# Arguments for `edgesign run` inside ExecStart: no quotes, '%' specifiers, spaces or shell syntax.
_ARG_RE = re.compile(r"[A-Za-z0-9._/:=,+@-]+")
# The Pi account (from `id -un`) and the absolute edgesign folder (from the probe).
_USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9._-]{0,31}")
# Not "/" itself: ReadWritePaths=/ would undo ProtectSystem.
_ROOT_RE = re.compile(r"/[A-Za-z0-9._-][A-Za-z0-9._/-]*")
#: The hardening the unit must carry (checked in the rendered text).
HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=read-only",
    "PrivateTmp=yes",
)
#: `systemd-analyze security` exposure above which the Pi refuses the unit, on systemd's 0-100
#: `--threshold` scale (it prints 6.0). Ours rates 4.2 on systemd 252; the four HARDENING lines
#: alone give 8.9, none of them 9.5.
SECURITY_THRESHOLD = 60


def template() -> str:
    return resources.files(__package__).joinpath(UNIT_NAME).read_text()


def parse_run_args(text: str) -> tuple:
    """Split and check the --run-args string; DeployError (before anything is contacted)."""
    try:
        args = tuple(shlex.split(text))
    except ValueError as exc:
        raise DeployError(f"--run-args {text!r}: {exc}") from None
    check_run_args(args)
    return args


def check_run_args(run_args) -> None:
    """Raise DeployError unless every argument is a plain word a unit's ExecStart reads as is."""
    for arg in run_args:
        if not isinstance(arg, str) or not _ARG_RE.fullmatch(arg):
            raise DeployError(
                f"run argument {arg!r} cannot go into a systemd unit: use letters, "
                "digits and . _ / : = , + @ - only (no spaces, quotes, % or "
                "newlines)"
            )
        if arg == "--web-token" or arg.startswith("--web-token="):
            # ExecStart is world-readable in the unit and shown by `ps` and `systemctl status`
            raise DeployError(
                "run argument --web-token would put the token in the unit's command line, "
                "which `ps` shows to every user: give `deploy --web-token TOKEN` (uploaded as a "
                "0600 file) or --web-token-file PATH on the Pi"
            )
    check_run_options(tuple(run_args))


#: `edgesign run` options the service's command line must not take: the unit names the bundle
#: that passed the self-test, and a service that ends by itself leaves the Pi recognizing nothing
_NOT_FOR_THE_SERVICE = ("--bundle", "--max-frames", "--duration", "--help", "-h")


def check_run_options(run_args) -> None:
    """Raise DeployError unless `edgesign run` on the Pi would take these arguments: an unknown
    option, a missing value or a number out of range would stop the service at once."""
    import argparse
    import contextlib
    import io

    from edgesign.device.commands import register, roi_problem

    for arg in run_args:
        if arg.split("=", 1)[0] in _NOT_FOR_THE_SERVICE:
            raise DeployError(
                f"run argument {arg.split('=', 1)[0]} is not for the service (it runs the "
                "deployed bundle, for as long as the Pi is up)"
            )
    parser = argparse.ArgumentParser(prog="edgesign")
    register(parser.add_subparsers(dest="command"))
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            parsed = parser.parse_args(["run", "--bundle", "bundle", *run_args])
    except SystemExit:
        problem = (said.getvalue().strip().splitlines() or ["refused"])[-1]
    else:
        problem = roi_problem(parsed)  # what run checks of its options together
    if problem:
        raise DeployError(
            f"run arguments {' '.join(run_args)!r}: `edgesign run` would refuse them "
            f"({problem.removeprefix('edgesign run: error: ')})"
        ) from None


def run_profile(run_args) -> str:
    """The profile `--profile NAME` in the run arguments names ('' for none): the Pi checks it
    fits the new bundle before the switch (remote_prepare.sh)."""
    profile = ""
    for i, arg in enumerate(run_args):
        if arg == "--profile" and i + 1 < len(run_args):
            profile = run_args[i + 1]
        elif arg.startswith("--profile="):
            profile = arg.split("=", 1)[1]
    return profile


def check_service_user(user: str, uid: str = "", allow_root: bool = False) -> None:
    """Refuse a unit that would run `edgesign run` as root, unless the user asked for it."""
    if not _USER_RE.fullmatch(user or ""):
        raise DeployError(f"the Pi's user name {user!r} cannot go into a systemd unit")
    if (user == "root" or uid == "0") and not allow_root:
        raise DeployError(
            "the service would run as root (you log in to the Pi as root): log in as "
            "an ordinary user (e.g. pi@...), or pass --allow-root-service if you "
            "really mean it, or --no-service"
        )


def render_unit(user: str, root: str, run_args=(), allow_root: bool = False) -> str:
    """The unit text for `user` with releases under the absolute folder `root`."""
    if not _ROOT_RE.fullmatch(root or ""):
        raise DeployError(
            f"service root {root!r} must be an absolute plain path (letters, digits, . _ - /)"
        )
    check_service_user(user, allow_root=allow_root)
    check_run_args(run_args)
    args = "".join(" " + a for a in run_args)
    text = (
        template()
        .replace("@USER@", user)
        .replace("@ROOT@", root.rstrip("/") or "/")
        .replace("@ARGS@", args)
    )
    check_unit_text(text)
    return text


def check_unit_text(text: str) -> None:
    """Structural check of a rendered unit: sections, one setting per line, one user, hardening."""
    sections = re.findall(r"^\[(\w+)\]$", text, flags=re.M)
    if sections != ["Unit", "Service", "Install"]:
        raise DeployError(f"unit sections are {sections}, expected [Unit] [Service] [Install]")
    leftover = re.findall(r"@[A-Z]+@", text)
    if leftover:
        raise DeployError(f"unit still has placeholders {leftover}")
    keys = []
    for line in text.splitlines():
        if not line or line.startswith("#") or re.fullmatch(r"\[\w+\]", line):
            continue
        setting = re.fullmatch(r"([A-Z][A-Za-z]*)=(.*)", line)
        if not setting or "\\" in line:
            raise DeployError(f"unit line {line!r} is not a plain Key=value setting")
        keys.append(setting.group(1))
    for key in ("User", "ExecStart", "WorkingDirectory"):
        if keys.count(key) != 1:
            raise DeployError(f"unit must set {key}= exactly once (found {keys.count(key)})")
    exec_start = re.search(
        r"^ExecStart=(/\S+/venv/bin/edgesign) run --bundle (/\S+)", text, flags=re.M
    )
    if not exec_start:
        raise DeployError("unit has no absolute `ExecStart=.../venv/bin/edgesign run --bundle ...`")
    for key in ("Restart=on-failure", "WantedBy=multi-user.target") + HARDENING:
        if not re.search(rf"^{re.escape(key)}$", text, flags=re.M):
            raise DeployError(f"unit lacks {key}")


def systemd_verify(unit_path) -> str | None:
    """Run `systemd-analyze verify` on a unit file; None if it is not installed, else its
    complaints."""
    if shutil.which("systemd-analyze") is None:
        return None
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(unit_path)], capture_output=True, text=True
    )
    return (proc.stdout + proc.stderr).strip() if proc.returncode != 0 else ""


def systemd_security(unit_path) -> float | None:
    """The exposure `systemd-analyze security --offline` gives a unit file (None: not available)."""
    if shutil.which("systemd-analyze") is None:
        return None
    argv = ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit_path)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    return float(found.group(1)) if found else None
