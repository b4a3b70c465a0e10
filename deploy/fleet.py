"""`edgesign deploy --inventory` and `edgesign rollback --inventory`: run the Ansible playbooks.

Ansible does the fleet work (inventory, forks, `serial` batches, max_fail_percentage); this
module only checks what the user gave, builds the ansible-playbook command line and runs it
with the playbooks' own ansible.cfg (its callback prints the per-Pi summary).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from edgesign.core.text import printable
from edgesign.deploy.errors import DeployError
from edgesign.deploy.release_ids import is_release_id
from edgesign.deploy.settings import (
    check_connection_settings,
    check_host_settings,
    check_no_templates,
    check_wheelhouse,
    templated,
)

DEFAULT_SERIAL = "1,20%,100%"
#: an earlier --summary-json is a few hundred bytes a Pi
MAX_SUMMARY_BYTES = 64 * 2**20


def playbook_dir() -> Path:
    """deploy/ansible: the playbooks, role, plugins and ansible.cfg (shipped with the package)."""
    return Path(str(resources.files(__package__).joinpath("ansible")))


def scripts_dir() -> str:
    """deploy/: the remote_*.sh scripts the playbooks run on the Pis (the role's default)."""
    return str(playbook_dir().parent)


def ansible_tool(name: str = "ansible-playbook") -> str:
    """An Ansible command next to this Python (the `fleet` extra), else the one on PATH."""
    here = Path(sys.executable).parent / name
    if here.is_file():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise DeployError(
            f"{name} not found: install the fleet extra "
            "(pip install 'edgesign[fleet]', which brings ansible-core)"
        )
    return found


def ansible_playbook() -> str:
    return ansible_tool("ansible-playbook")


def ansible_env() -> dict:
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(playbook_dir() / "ansible.cfg"))
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    # Ansible's default reads a file it cannot parse as an empty fleet, and a run over no Pis
    # "succeeds" having deployed nothing
    env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "True"
    # inventories are data: INI, YAML or TOML files only. The other plugins run code while the
    # inventory is read (a script inventory is executed; `generator` renders templates in host
    # names, where a lookup runs a command on this computer)
    env["ANSIBLE_INVENTORY_ENABLED"] = "ini,yaml,toml"
    return env


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


def _check_no_templates(extra: dict) -> None:
    """Ansible renders its extra variables too: a value from the command line (a bundle path, a
    run argument) holding a Jinja template would run here. Refused in one line."""
    for key, value in extra.items():
        if templated(value):
            raise DeployError(
                f"{printable(str(value))}: holds a Jinja template ({{{{ ... }}}}), which Ansible "
                f"would run on this computer ({key}); rename it"
            )


def check_inventory(path: Path) -> Path:
    if not path.is_file():
        raise DeployError(f"{path}: no such inventory file (an Ansible INI or YAML inventory)")
    return path.resolve()


def _is_summary(path: Path) -> bool:
    """Whether `path` holds rows as the summary callback writes them (an earlier summary)."""
    try:
        # a FIFO would block the read for ever, a device or a huge file never end
        if not path.is_file() or path.stat().st_size > MAX_SUMMARY_BYTES:
            return False
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(rows, list) and all(
        isinstance(r, dict) and {"host", "action"} <= r.keys() for r in rows
    )


def check_summary_path(path: Path | None) -> None:
    """Refuse a `--summary-json` that would overwrite anything but an earlier summary, or cannot
    be written, before any Pi is contacted."""
    from edgesign.core.files import check_writable

    if path is None:
        return
    if path.is_symlink() or path.is_dir() or (path.exists() and not _is_summary(path)):
        raise DeployError(
            f"{path}: exists and is not an earlier fleet summary; choose another "
            "--summary-json, or move it away yourself"
        )
    check_writable(path.parent)


def _inventory_problem(stderr: str) -> str:
    """The line of ansible-inventory's complaint that names the problem."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("Failed to parse inventory:", "[ERROR]:", "ERROR!"):
        found = [line for line in lines if marker in line]
        if found:
            return found[0].split(marker, 1)[1].strip() or found[0]
    return lines[-1] if lines else "no message"


#: reading an inventory takes a second or two; a host range like pi[0:99999999] would take hours
#: and every byte of memory (ansible-inventory expands it), so both are bounded
INVENTORY_SECONDS = 60
INVENTORY_MEMORY = 2 * 2**30


def _limit_inventory_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (INVENTORY_MEMORY, INVENTORY_MEMORY))


#: the Pis one line of an inventory may name with host ranges (`pi[01:50]`): more is refused
#: before Ansible expands them (pi[0:99999999] took 8 s and 2 GiB to meet the bounds above)
MAX_PIS = 10_000
HOST_RANGE = re.compile(r"\[(\d+):(\d+)(?::(\d+))?\]")
#: how much of an inventory is looked through for ranges (the bounds above hold for the rest)
RANGE_SCAN_BYTES = 16 * 2**20


def check_host_ranges(inventory: Path) -> None:
    """DeployError, at once, for a line whose numeric host ranges name more than MAX_PIS Pis."""
    with open(inventory, encoding="utf-8", errors="replace") as file:
        text = file.read(RANGE_SCAN_BYTES)
    for line in text.splitlines():
        if line.lstrip().startswith(("#", ";")):
            continue
        count, ranges = 1, HOST_RANGE.findall(line)
        for start, end, step in ranges:
            count *= max(0, (int(end) - int(start)) // max(1, int(step or 1)) + 1)
        if ranges and count > MAX_PIS:
            raise DeployError(
                f"{inventory}: {printable(line.strip(), 60)} names {count:,} Pis, more than the "
                f"{MAX_PIS:,} one run reaches; split the fleet into inventories of that size"
            )


def read_inventory(inventory: Path, limit: str | None = None) -> dict:
    """{host: its variables, group variables merged} for the Pis a run would reach, as Ansible
    itself reads the inventory; DeployError for a file it cannot read or one without Pis."""
    check_host_ranges(inventory)
    argv = [ansible_tool("ansible-inventory"), "-i", str(inventory), "--list"]
    if limit:
        argv += ["--limit", limit]
    try:
        proc = subprocess.run(
            argv,
            env=ansible_env(),
            capture_output=True,
            text=True,
            timeout=INVENTORY_SECONDS,
            preexec_fn=_limit_inventory_memory,
        )
    except subprocess.TimeoutExpired:
        raise DeployError(
            f"{inventory}: Ansible took more than {INVENTORY_SECONDS} s to read this inventory "
            "(a host range of millions of Pis?)"
        ) from None
    if proc.returncode != 0:
        raise DeployError(
            f"{inventory}: Ansible cannot read this inventory: "
            f"{printable(_inventory_problem(proc.stderr))}"
        )
    listing = json.loads(proc.stdout)
    hostvars = listing.get("_meta", {}).get("hostvars", {})
    hosts = sorted(
        {h for name, group in listing.items() if name != "_meta" for h in group.get("hosts", [])}
    )
    if not hosts:
        where = f" match --limit {printable(limit)}" if limit else ""
        raise DeployError(f"{inventory}: no Pis in this inventory{where} (nothing to do)")
    return {host: hostvars.get(host, {}) for host in hosts}


def check_fleet(inventory: Path, limit: str | None, overrides: dict) -> dict:
    """Every Pi's edgesign_* variables and ssh settings, checked before Ansible touches a Pi
    (the playbook checks them again per Pi, rendered, for runs without this wrapper)."""
    from edgesign.deploy.fleet_tasks import target_from_inventory

    hosts = read_inventory(inventory, limit)
    for host, variables in hosts.items():
        check_no_templates(host, variables, inventory)
        check_connection_settings(host, variables, inventory)
        checked = check_host_settings(host, variables, skip=overrides)
        connection = [
            variables.get(key, "")
            for key in (
                "ansible_host",
                "ansible_user",
                "ansible_port",
                "ansible_ssh_private_key_file",
                "ansible_ssh_common_args",
                "ansible_ssh_extra_args",
            )
        ]
        address, user, port, key, common, extra = (str(v or "") for v in connection)
        target_from_inventory(
            address or host,
            user,
            port,
            key,
            f"{common} {extra}",
            overrides.get("edgesign_remote_dir", checked.get("edgesign_remote_dir", "edgesign")),
        )
    return hosts


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
    env = ansible_env()
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
    overrides: dict | None = None,
) -> int:
    """Roll `bundle` out to the Pis of `inventory` with deploy.yml; ansible-playbook's exit code.

    `overrides`: edgesign_* variables for every Pi from the command line, already checked (they
    win over the inventory's, as Ansible's extra variables do)."""
    from edgesign.device.bundle import load_bundle, load_selftest
    from edgesign.device.motion_bundle import require_motion
    from edgesign.device.pipeline import pipeline_for

    overrides = dict(overrides or {})
    inventory = check_inventory(inventory)
    check_summary_path(summary)
    loaded = load_bundle(bundle)  # a broken bundle is refused here, before any Pi is contacted
    load_selftest(loaded)
    require_motion(loaded)
    pipeline_for(loaded, reference=True)
    if not 0 <= max_fail_percentage <= 100:
        raise DeployError(f"--max-fail-percentage {max_fail_percentage} is not between 0 and 100")
    if wheelhouse:
        check_wheelhouse(wheelhouse)
    extra = {
        "edgesign_bundle": str(Path(bundle).resolve()),
        "fleet_serial": parse_serial(serial),
        "fleet_max_fail_percentage": int(max_fail_percentage),
        **overrides,
    }
    check_fleet(inventory, limit, overrides)
    if not service:
        extra["edgesign_service"] = False
    # the run's own settings are always given, so no inventory variable can stand in for them
    extra["edgesign_wheelhouse"] = str(Path(wheelhouse).resolve()) if wheelhouse else ""
    extra["edgesign_scripts"] = scripts_dir()
    _check_no_templates(extra)
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
    overrides: dict | None = None,
) -> int:
    """Switch every Pi of `inventory` back with rollback.yml; ansible-playbook's exit code."""
    check_summary_path(summary)
    overrides = dict(overrides or {})
    inventory = check_inventory(inventory)
    if to and not is_release_id(to):
        raise DeployError(
            f"--to {printable(to)}: not a release id (like 20240101T120000000Z-0123456789; see "
            "`edgesign releases --inventory`)"
        )
    check_fleet(inventory, limit, overrides)
    extra = {"edgesign_rollback_to": to or "", "edgesign_scripts": scripts_dir(), **overrides}
    if not service:
        extra["edgesign_service"] = False
    _check_no_templates(extra)
    return run_playbook(
        playbook_argv("rollback.yml", inventory, extra, check=check, forks=forks, limit=limit),
        summary,
    )
