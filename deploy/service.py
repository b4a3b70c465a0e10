"""The systemd unit that keeps `edgesign run` going on the Pi, rendered for one user and folder."""
from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources

from .errors import DeployError

UNIT_NAME = "edgesign.service"
# Arguments for `edgesign run` inside ExecStart: no quotes, '%' specifiers or shell syntax.
_ARG_RE = re.compile(r"^[A-Za-z0-9._/:=,+@-]+$")


def template() -> str:
    return resources.files(__package__).joinpath(UNIT_NAME).read_text()


def render_unit(user: str, root: str, run_args=()) -> str:
    """The unit text for `user` with releases under the absolute folder `root`."""
    if not root.startswith("/"):
        raise DeployError(f"service root {root!r} must be an absolute path")
    for arg in run_args:
        if not _ARG_RE.match(arg):
            raise DeployError(f"run argument {arg!r} cannot go into a systemd unit: use letters, "
                              "digits and . _ / : = , + @ - only")
    args = "".join(" " + a for a in run_args)
    return (template().replace("@USER@", user).replace("@ROOT@", root.rstrip("/"))
            .replace("@ARGS@", args))


def check_unit_text(text: str) -> None:
    """Structural check of a rendered unit: sections present, no placeholders left, sane ExecStart."""
    sections = re.findall(r"^\[(\w+)\]$", text, flags=re.M)
    if sections != ["Unit", "Service", "Install"]:
        raise DeployError(f"unit sections are {sections}, expected [Unit] [Service] [Install]")
    leftover = re.findall(r"@[A-Z]+@", text)
    if leftover:
        raise DeployError(f"unit still has placeholders {leftover}")
    exec_start = re.search(r"^ExecStart=(/\S+/venv/bin/edgesign) run --bundle (/\S+)", text, flags=re.M)
    if not exec_start:
        raise DeployError("unit has no absolute `ExecStart=.../venv/bin/edgesign run --bundle ...`")
    for key in ("Restart=on-failure", "WantedBy=multi-user.target"):
        if key not in text:
            raise DeployError(f"unit lacks {key}")


def systemd_verify(unit_path) -> str | None:
    """Run `systemd-analyze verify` on a unit file; None if it is not installed, else its complaints."""
    if shutil.which("systemd-analyze") is None:
        return None
    proc = subprocess.run(["systemd-analyze", "verify", str(unit_path)], capture_output=True, text=True)
    return (proc.stdout + proc.stderr).strip() if proc.returncode != 0 else ""
