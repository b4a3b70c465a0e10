"""`edgesign deploy --inventory` and `edgesign rollback --inventory`: run the Ansible playbooks.

Ansible does the fleet work (inventory, forks, `serial` batches, max_fail_percentage); this
module only checks what the user gave, builds the ansible-playbook command line and runs it
with the playbooks' own ansible.cfg (its callback prints the per-Pi summary).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from .errors import DeployError

DEFAULT_SERIAL = "1,20%,100%"


def playbook_dir() -> Path:
    """deploy/ansible: the playbooks, role, plugins and ansible.cfg (shipped with the package)."""
    return Path(str(resources.files(__package__).joinpath("ansible")))


def ansible_playbook() -> str:
    """The ansible-playbook next to this Python (the `fleet` extra), else the one on PATH."""
    here = Path(sys.executable).parent / "ansible-playbook"
    if here.is_file():
        return str(here)
    found = shutil.which("ansible-playbook")
    if not found:
        raise DeployError(
            "ansible-playbook not found: install the fleet extra "
            "(pip install 'edgesign[fleet]', which brings ansible-core)"
        )
    return found


def parse_serial(text: str) -> list:
    """'1,20%,100%' -> [1, '20%', '100%'] (Ansible's `serial` batches)."""
    batches = []
    for part in (p.strip() for p in str(text).split(",")):
        if part.endswith("%") and part[:-1].isdigit() and 0 < int(part[:-1]) <= 100:
            batches.append(part)
        elif part.isdigit() and int(part) > 0:
            batches.append(int(part))
        else:
            raise DeployError(
                f"--serial {text!r}: give batch sizes like 1,20%,100% (counts or percentages)"
            )
    return batches


def check_inventory(path: Path) -> Path:
    if not path.is_file():
        raise DeployError(f"{path}: no such inventory file (an Ansible INI or YAML inventory)")
    return path.resolve()


def _is_summary(path: Path) -> bool:
    """Whether `path` holds rows as the summary callback writes them (an earlier summary)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(rows, list) and all(
        isinstance(r, dict) and {"host", "action"} <= r.keys() for r in rows
    )


def check_summary_path(path: Path | None) -> None:
    """Refuse a `--summary-json` that would overwrite anything but an earlier summary, or cannot
    be written, before any Pi is contacted."""
    from ..device.files import check_writable

    if path is None:
        return
    if path.is_symlink() or path.is_dir() or (path.exists() and not _is_summary(path)):
        raise DeployError(
            f"{path}: exists and is not an earlier fleet summary; choose another "
            "--summary-json, or move it away yourself"
        )
    check_writable(path.parent)


def playbook_argv(
    playbook: str,
    inventory: Path,
    extra: dict,
    *,
    check: bool = False,
    forks: int | None = None,
    limit: str | None = None,
    verbose: int = 0,
) -> list:
    argv = [
        ansible_playbook(),
        "-i",
        str(inventory),
        str(playbook_dir() / playbook),
        "-e",
        json.dumps(extra),
    ]
    if check:
        argv.append("--check")
    if forks:
        argv += ["--forks", str(int(forks))]
    if limit:
        argv += ["--limit", limit]
    if verbose:
        argv.append("-" + "v" * verbose)
    return argv


def run_playbook(argv: list, summary: Path | None = None) -> int:
    """Run ansible-playbook (output streams through); its exit code (0, or 2 when a Pi failed)."""
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(playbook_dir() / "ansible.cfg"))
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    if summary:
        env["EDGESIGN_FLEET_SUMMARY"] = str(summary)
    try:
        return subprocess.run(argv, env=env).returncode
    except FileNotFoundError:
        raise DeployError(
            f"cannot run {argv[0]}: install the fleet extra (pip install 'edgesign[fleet]')"
        ) from None


def deploy_fleet(
    inventory: Path,
    bundle: Path,
    *,
    serial: str = DEFAULT_SERIAL,
    max_fail_percentage: int = 0,
    check: bool = False,
    forks: int | None = None,
    limit: str | None = None,
    wheelhouse: Path | None = None,
    service: bool = True,
    summary: Path | None = None,
) -> int:
    """Roll `bundle` out to the Pis of `inventory` with deploy.yml; ansible-playbook's exit code."""
    from ..device.bundle import load_bundle, load_selftest

    inventory = check_inventory(inventory)
    check_summary_path(summary)
    loaded = load_bundle(bundle)  # a broken bundle is refused here, before any Pi is contacted
    load_selftest(loaded)
    if not 0 <= max_fail_percentage <= 100:
        raise DeployError(f"--max-fail-percentage {max_fail_percentage} is not between 0 and 100")
    extra = {
        "edgesign_bundle": str(Path(bundle).resolve()),
        "fleet_serial": parse_serial(serial),
        "fleet_max_fail_percentage": int(max_fail_percentage),
    }
    if not service:
        extra["edgesign_service"] = False
    if wheelhouse:
        extra["edgesign_wheelhouse"] = str(Path(wheelhouse).resolve())
    return run_playbook(
        playbook_argv("deploy.yml", inventory, extra, check=check, forks=forks, limit=limit),
        summary,
    )


def rollback_fleet(
    inventory: Path,
    *,
    to: str | None = None,
    service: bool = True,
    check: bool = False,
    forks: int | None = None,
    limit: str | None = None,
    summary: Path | None = None,
) -> int:
    """Switch every Pi of `inventory` back with rollback.yml; ansible-playbook's exit code."""
    check_summary_path(summary)
    extra = {"edgesign_rollback_to": to or ""}
    if not service:
        extra["edgesign_service"] = False
    return run_playbook(
        playbook_argv(
            "rollback.yml", check_inventory(inventory), extra, check=check, forks=forks, limit=limit
        ),
        summary,
    )
