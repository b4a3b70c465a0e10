"""The releases on a Pi: listing them, and rolling back to an earlier complete one.

Used by `edgesign releases` / `rollback` and, through its filter plugin, by the fleet playbook.
"""

from __future__ import annotations

from collections.abc import Callable

from edgesign.core.text import printable
from edgesign.deploy.errors import DeployError
from edgesign.deploy.release_ids import is_release_id
from edgesign.deploy.remote import Remote
from edgesign.deploy.target import Target


def list_releases(remote: Remote) -> tuple:
    """(current id or '', [(id, complete)] newest first)."""
    out = remote.run_file(
        "remote_releases.sh", "list", remote.target.remote_dir, what="listing releases"
    ).stdout
    return parse_releases(out)


def parse_releases(out: str) -> tuple:
    """(current id or '', [(id, complete)] newest first) from `remote_releases.sh list`."""
    current, releases = "", []
    for line in out.splitlines():
        if line.startswith("current="):
            current = line.split("=", 1)[1]
        elif line.startswith("release="):
            rid, _, complete = line[len("release=") :].partition(" complete=")
            if is_release_id(rid):  # the script lists only these; never act on anything else
                releases.append((rid, complete == "yes"))
    return (current if is_release_id(current) else ""), releases


def rollback(
    target: Target,
    to: str | None = None,
    restart: bool = True,
    echo: Callable[[str], None] = print,
) -> str:
    """Point `current` at the release before it (or `to`) and restart the service; returns its
    id."""
    if to is not None and not is_release_id(to):
        raise DeployError(
            f"--to {to!r} is not a release id (like 20240101T120000000Z-0123456789; "
            "see `edgesign releases`)"
        )
    remote = Remote(target)
    current, releases = list_releases(remote)
    choice = rollback_choice(current, releases, to, target.describe(), target.remote_dir)
    remote.run_file(
        "remote_releases.sh", "switch", target.remote_dir, choice, "0", what="switching `current`"
    )
    echo(f"rollback: current {current} -> {choice}")
    if restart:
        state = remote.run_file(
            "remote_restart.sh", what="restarting the service", check=False
        ).fields()
        echo(f"service: {printable(state.get('service', 'unknown'))}")
    return choice


def rollback_choice(current: str, releases: list, to: str | None, host: str, root: str) -> str:
    """The release a rollback switches to: `to` if complete, else the newest complete one before
    current."""
    complete = [rid for rid, ok in releases if ok]
    if not current:
        raise DeployError(f"nothing is deployed on {host} (no {root}/current)")
    if to:
        if to not in complete:
            raise DeployError(f"no complete release {to!r} on {host}; have: {', '.join(complete)}")
        return to
    older = [rid for rid in complete if rid < current]
    if not older:
        raise DeployError(f"no release older than {current} on {host} to roll back to")
    return older[0]
