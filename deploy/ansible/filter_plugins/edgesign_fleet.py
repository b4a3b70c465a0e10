"""Jinja filters for the fleet playbook: edgesign's own checks and parsers, not copies of them.

Ansible runs these on the controller, in the Python that runs ansible-playbook (the one with
edgesign installed: `pip install 'edgesign[fleet]'`). Filters never raise for a Pi's problem;
they return the message, and the playbook fails that host with it.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from edgesign.deploy import deployer, pi_probe, service, settings
from edgesign.deploy import releases as pi_releases
from edgesign.deploy.errors import DeployError
from edgesign.deploy.fleet_tasks import platform_key
from edgesign.deploy.remote import Result


def fields(stdout: str) -> dict:
    """`key=value` lines printed by a remote script, as a dict."""
    return Result(0, stdout or "", "").fields()


def probe_problem(info: dict, python: str, host: str, want_service=True) -> str:
    """Why this Pi cannot take a release ('' if it can): pi_probe.check_probe and the sudo rule."""
    try:
        pi_probe.check_probe(info, python, host)
    except DeployError as exc:
        return str(exc)
    if _bool(want_service) and info.get("systemd") == "yes" and info.get("sudo") != "yes":
        return (
            f"{host} has systemd but `sudo -n` needs a password there: the system unit cannot be "
            "installed. Allow passwordless sudo for this user or set edgesign_service=false"
        )
    return ""


def settings_problem(variables: dict, host: str) -> str:
    """Why this Pi's edgesign_* settings cannot be used ('' if they can): deploy/settings.py."""
    try:
        settings.check_host_settings(host, dict(variables))
    except DeployError as exc:
        return str(exc)
    return ""


def platform(info: dict) -> str:
    return platform_key(info["machine"], info["python_version"], info["libc"])


def platforms(infos) -> list:
    """The distinct Pi platforms in the inventory (one dependency wheelhouse each)."""
    return sorted({platform(i) for i in infos if i})


def up_to_date(current: str, digest: str) -> bool:
    """Whether `current` holds the same content (release ids end in the content digest)."""
    return bool(current) and current.endswith("-" + digest)


def release_json(stage: dict, info: dict) -> str:
    """The release.json text for one Pi (deployer's own record of a release)."""
    meta = json.loads((Path(stage["bundle"]) / "metadata.json").read_text())
    record = deployer._release_info(
        stage["release_id"], None, info, Path(stage["project_wheel"]), meta
    )
    return json.dumps(record)


def prepare_problem(result: dict, host: str, rid: str) -> str:
    """The failed step of remote_prepare.sh and its last lines ('' when it passed)."""
    rc = result.get("rc", 1)
    try:
        deployer._check_prepare(
            Result(rc, result.get("stdout", ""), result.get("stderr", "")), host, rid
        )
    except DeployError as exc:
        return f"{exc}. Release {rid} was discarded"
    return ""


def selftest_line(stdout: str) -> str:
    """The `selftest PASS|FAIL: ...` line of the prepare step's output."""
    return next((line for line in (stdout or "").splitlines() if line.startswith("selftest ")), "")


def selftest_verdict(stdout: str) -> str:
    line = selftest_line(stdout)
    return line.split(":")[0].split()[-1] if line else ""


def unit_text(info: dict, run_args) -> str:
    """The systemd unit for this Pi (service.render_unit); run_args a string or a list."""
    args = shlex.split(run_args) if isinstance(run_args, str) else [str(a) for a in run_args or ()]
    try:
        return service.render_unit(info["user"], info["root"], args)
    except DeployError as exc:
        return f"ERROR {exc}"


def releases(stdout: str) -> dict:
    """`remote_releases.sh list` output as {'current': id, 'releases': [[id, complete], ...]}."""
    current, found = pi_releases.parse_releases(stdout or "")
    return {"current": current, "releases": [list(r) for r in found]}


def rollback_choice(listing: dict, to: str, host: str, root: str) -> str:
    """The release to switch back to, or 'ERROR <why>' (releases.rollback_choice)."""
    try:
        return pi_releases.rollback_choice(
            listing["current"], [tuple(r) for r in listing["releases"]], to or None, host, root
        )
    except DeployError as exc:
        return f"ERROR {exc}"


def plan_text(info: dict, stage: dict, opts: dict) -> str:
    """What the rollout would do on this Pi (check mode)."""
    root = info.get("root", "?")
    steps = [
        f"release {stage['release_id']} on {info.get('machine')}, "
        f"Python {info.get('python_version')}",
        f"upload wheels -> {root}/wheelhouse/, release -> {root}/releases/{stage['release_id']}/"
        + (f" at most {opts['bwlimit']} KiB/s" if int(opts.get("bwlimit") or 0) else ""),
        f"prepare venv, offline pip install, selftest (tolerance {opts.get('tolerance', 0)})",
        f"switch {root}/current (now {info.get('current') or 'none'}), "
        f"keep {opts.get('keep')} releases",
    ]
    if not _bool(opts.get("service", True)):
        steps.append("service skipped (edgesign_service=false)")
    elif info.get("systemd") != "yes":
        steps.append("service skipped (no systemd)")
    else:
        steps.append(f"install and restart {service.UNIT_NAME}")
    return "; ".join(steps)


def _bool(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on")
    return bool(value)


def run_profile(run_args, want_service=True) -> str:
    """The profile the service's run arguments name ('' for none), for remote_prepare.sh (as
    service.run_profile reads it; spelled out here so an older edgesign beside Ansible can run
    this playbook too)."""
    args = shlex.split(run_args) if isinstance(run_args, str) else [str(a) for a in run_args or ()]
    profile = ""
    for i, arg in enumerate(args if _bool(want_service) else ()):
        if arg == "--profile" and i + 1 < len(args):
            profile = args[i + 1]
        elif arg.startswith("--profile="):
            profile = arg.split("=", 1)[1]
    return profile


class FilterModule:
    """edgesign_* filters."""

    def filters(self):
        return {
            "edgesign_fields": fields,
            "edgesign_probe_problem": probe_problem,
            "edgesign_settings_problem": settings_problem,
            "edgesign_platform": platform,
            "edgesign_platforms": platforms,
            "edgesign_up_to_date": up_to_date,
            "edgesign_release_json": release_json,
            "edgesign_prepare_problem": prepare_problem,
            "edgesign_selftest_line": selftest_line,
            "edgesign_selftest_verdict": selftest_verdict,
            "edgesign_unit": unit_text,
            "edgesign_releases": releases,
            "edgesign_rollback_choice": rollback_choice,
            "edgesign_plan": plan_text,
            "edgesign_run_profile": run_profile,
        }
