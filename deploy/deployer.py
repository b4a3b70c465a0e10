"""Deploy a bundle and the device runtime to a Pi as a new release; switch to it only if it
self-tests.

Layout on the Pi (ROOT defaults to ~/edgesign):

    ROOT/releases/<UTC time>-<hash>/{bundle/, wheels/, venv/, release.json}
    ROOT/wheelhouse/   third-party wheels shared by releases (uploaded once, installed offline)
    ROOT/current ->    releases/<id>   (replaced atomically; the service runs through it)

A release is complete once its release.json exists, which happens only after its venv was built
and `edgesign selftest` passed in it. Anything that fails before the switch leaves `current` as it
was.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgesign.core.text import PATH_LIMIT, printable
from edgesign.deploy import pi_probe, service, settings, wheelhouse
from edgesign.deploy.errors import DeployError
from edgesign.deploy.release_ids import is_release_id, release_id
from edgesign.deploy.remote import Remote, pi_tail
from edgesign.deploy.staging import stage_release, write_web_token
from edgesign.deploy.target import Target
from edgesign.device.bundle import bundle_files

log = logging.getLogger(__name__)


@dataclass
class DeployOptions:
    bundle: Path
    wheelhouse: Path | None = None
    python: str = "python3"
    keep: int = 3
    service: bool = True
    run_args: tuple = ()
    web_token: str | None = None  # written to the release as WEB_TOKEN_FILE (mode 0600)
    allow_root_service: bool = False  # install the unit even if the Pi login is root
    bwlimit: int | None = None  # KiB/s for rsync, for slow or shared links
    dry_run: bool = False
    # int8 outputs on the Pi may differ from the host's by this much. The self-test runs the
    # reference kernels on both sides, which agree bit for bit on x86 and aarch64 (XNNPACK's fast
    # kernels did not: up to 3 steps under qemu-aarch64), so exact is the default.
    selftest_tolerance: int = 0


@dataclass
class Outcome:
    release: str
    previous: str
    pruned: list = field(default_factory=list)
    service: str = ""


def check_options(opts: DeployOptions) -> None:
    """Refuse a bad option before anything is contacted (a dry run too): the remote scripts
    would refuse it only after the upload, with a whole release left on the Pi."""
    service.check_run_args(opts.run_args)
    opts.keep = settings.check_keep(opts.keep)
    opts.selftest_tolerance = settings.check_tolerance(opts.selftest_tolerance)
    if opts.bwlimit is not None:
        opts.bwlimit = settings.check_bwlimit(opts.bwlimit)
    opts.python = settings.check_python(opts.python)
    if opts.wheelhouse is not None:
        settings.check_wheelhouse(opts.wheelhouse)


def plan_lines(target: Target, opts: DeployOptions) -> list:
    """What a deploy will do, in order (printed by --dry-run; nothing is contacted)."""
    root = target.remote_dir if target.remote_dir.startswith("/") else f"~/{target.remote_dir}"
    wh = (
        opts.wheelhouse
        or f"{wheelhouse.cache_root()}/wheelhouse-<python>-<platform> (downloaded once)"
    )
    profile = service.run_profile(opts.run_args) if opts.service else ""
    lines = [
        f"target      {target.describe()} via: {' '.join(target.ssh_argv())} {target.host}",
        f"bundle      {printable(opts.bundle, PATH_LIMIT)} (exactly its files: "
        f"{len(bundle_files(opts.bundle))})",
        f"1 probe     architecture, {opts.python} version/venv, glibc, rsync, systemd, sudo on the "
        "Pi",
        "2 wheels    build the device-only edgesign wheel; wheels of the device extra for the "
        f"Pi's platform from {wh}",
        f"3 upload    rsync wheels -> {root}/wheelhouse/ (deleting wheels this release does not "
        "use), "
        f"bundle + edgesign wheel -> "
        f"{root}/releases/<time>-<hash>/"
        + (f" (at most {opts.bwlimit} KiB/s)" if opts.bwlimit else ""),
        f"4 prepare   {opts.python} -m venv --system-site-packages --without-pip; pip (from its "
        "wheel) install --no-index --no-compile 'edgesign[device]' "
        f"with {', '.join(wheelhouse.PI_CONSTRAINTS)}",
        "5 selftest  venv/bin/edgesign selftest --bundle bundle --tolerance "
        f"{opts.selftest_tolerance}"
        + (f" --profile {profile}" if profile else "")
        + "  (failure: release removed, current kept)",
        f"6 switch    {root}/current -> releases/<id> (atomic rename); keep {opts.keep} releases",
    ]
    if opts.service:
        lines.insert(
            -1,
            f"5b unit     systemd-analyze verify + security (at most "
            f"{service.SECURITY_THRESHOLD / 10:.1f}) of the hardened "
            f"{service.UNIT_NAME} for the new release (failure: release removed, "
            "current kept)",
        )
        args = " ".join(opts.run_args) or "(none)"
        lines.append(
            f"7 service   install {service.UNIT_NAME} with sudo (never as root unless "
            f"--allow-root-service; run args: {args}), enable, restart; switch back if it "
            "does not stay active (skipped when the Pi has no systemd)"
        )
    else:
        lines.append("7 service   skipped (--no-service)")
    return lines


def _dependency_wheels(opts: DeployOptions, info: dict, project: Path, echo) -> Path:
    """The folder of third-party wheels for the Pi's platform (given, or downloaded and cached)."""
    if opts.wheelhouse:
        deps = settings.check_wheelhouse(opts.wheelhouse)
    else:
        tags = wheelhouse.platform_tags(info["machine"], info["libc"])
        deps = wheelhouse.cached_dependencies(project, info["python_version"], tags)
    echo(
        f"wheels: {project.name} + "
        f"{sum(1 for p in deps.glob('*.whl') if not p.name.startswith('edgesign-'))} "
        f"dependency wheels from {deps}"
    )
    return deps


def _release_info(rid: str, opts: DeployOptions, info: dict, project: Path, meta: dict) -> dict:
    from edgesign.core.hashing import sha256_file

    return {
        "id": rid,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "deployed_from": platform.node(),
        "edgesign_wheel": {"file": project.name, "sha256": sha256_file(project)},
        "bundle": {
            "model_sha256": meta.get("model", {}).get("sha256"),
            "classes": len(meta.get("classes", [])),
        },
        "pi": {k: info.get(k) for k in ("machine", "python_version", "libc", "os")},
    }


def deploy(
    target: Target, opts: DeployOptions, echo: Callable[[str], None] = print
) -> Outcome | None:
    """Deploy `opts.bundle` to `target`; returns what happened, or None for a dry run."""
    from edgesign.device.bundle import load_bundle, load_selftest
    from edgesign.device.motion_bundle import require_motion
    from edgesign.device.pipeline import pipeline_for

    check_options(opts)  # before anything is contacted, --dry-run too
    bundle_files(opts.bundle)  # only known plain files: no symlinks, nothing stray
    bundle = load_bundle(opts.bundle)  # refuse to ship a bundle that is broken on the host already
    load_selftest(bundle)
    require_motion(bundle)  # its motion letters too, checked as the Pi's self-test will
    pipeline_for(bundle, reference=True)  # and the hand models, built as `run` builds them
    if opts.dry_run:
        for line in plan_lines(target, opts):
            echo(line)
        echo("dry run: nothing was contacted or changed")
        return None

    remote = Remote(target)
    host = target.describe()
    info = pi_probe.probe(remote, opts.python)
    echo(
        f"probe: {info.get('os', '?')}, {info['machine']}, Python {info['python_version']} "
        f"({info['python']}), {info['libc']}, systemd {info['systemd']}, current release: "
        f"{info['current'] or 'none'}"
    )
    if opts.service and info["systemd"] == "yes" and info["sudo"] != "yes":
        raise DeployError(
            f"{host} has systemd but `sudo -n` needs a password there: the system unit "
            "cannot be installed. Allow passwordless sudo for this user (the Raspberry Pi "
            "OS default) or rerun with --no-service"
        )
    unit = None
    if opts.service and info["systemd"] == "yes":
        service.check_service_user(info["user"], info.get("uid", ""), opts.allow_root_service)
        unit = service.render_unit(
            info["user"], info["root"], opts.run_args, opts.allow_root_service
        )
    previous = info["current"] if is_release_id(info["current"]) else ""
    keep_note = f"current stays {previous}" if previous else "nothing was active before"

    with tempfile.TemporaryDirectory(prefix="edgesign-deploy-") as tmp:
        staging = Path(tmp) / "release"
        project, bundle = stage_release(bundle.path, staging, opts.wheelhouse)
        if opts.web_token is not None:
            write_web_token(staging, opts.web_token)
        deps = _dependency_wheels(opts, info, project, echo)
        rid = release_id(wheelhouse.digest_files([bundle.model_path, project]))
        release_json = json.dumps(
            _release_info(rid, opts, info, project, bundle.metadata), indent=2
        )

        remote.run_file(
            "remote_releases.sh",
            "begin",
            target.remote_dir,
            rid,
            what="creating the release folder",
        )
        try:
            echo(f"upload: wheels and release {rid}")
            upload(remote, deps, staging, rid, opts.bwlimit)
            echo("prepare: venv, offline pip install, selftest on the Pi (this takes a while)")
            result = remote.run_file(
                "remote_prepare.sh",
                target.remote_dir,
                rid,
                info["python"],
                release_json,
                str(opts.selftest_tolerance),
                service.run_profile(opts.run_args) if opts.service else "",
                what="preparing the release",
                check=False,
            )
            _check_prepare(result, host, rid)
            for line in result.stdout.splitlines():
                if line.startswith("selftest "):
                    echo(line)
            if unit is not None:
                _check_unit_on_pi(remote, unit, info["root"], rid, echo)
        except DeployError as exc:
            _discard(remote, target, rid)
            raise DeployError(f"{exc}. Release {rid} was discarded; {keep_note}.") from None

    try:
        switched = remote.run_file(
            "remote_releases.sh",
            "switch",
            target.remote_dir,
            rid,
            str(opts.keep),
            what="switching `current`",
        )
    except DeployError as exc:
        # `remote_releases.sh switch` fails only before `current` moves, and `discard` never
        # removes the current release: a whole release would otherwise stay on the Pi
        _discard(remote, target, rid)
        raise DeployError(f"{exc}. Release {rid} was discarded; {keep_note}.") from None
    pruned = [
        line.split("=", 1)[1] for line in switched.stdout.splitlines() if line.startswith("pruned=")
    ]
    echo(
        f"switch: current -> releases/{rid}" + (f" (pruned {', '.join(pruned)})" if pruned else "")
    )
    outcome = Outcome(rid, previous, pruned)
    outcome.service = _service_step(remote, opts, info, unit, rid, previous, echo)
    echo(f"deployed {rid} to {host}")
    return outcome


def upload(remote: Remote, deps: Path, staging: Path, rid: str, bwlimit: int | None = None) -> None:
    """rsync the dependency wheels to ROOT/wheelhouse/ and the staged release to
    ROOT/releases/<rid>/."""
    rsync_opts = [f"--bwlimit={int(bwlimit)}"] if bwlimit else []
    root = remote.target.remote_dir
    # --delete prunes wheels this release does not use: installed releases keep their venvs,
    # so rollback needs none of them, and the Pi's card does not fill up over the years
    remote.rsync(
        [f"{deps}/"],
        f"{root}/wheelhouse/",
        what="uploading wheels",
        options=rsync_opts
        + ["--delete", "--include=*.whl", "--exclude=edgesign-*.whl", "--exclude=*"],
    )
    remote.rsync(
        [f"{staging}/"], f"{root}/releases/{rid}/", what="uploading the release", options=rsync_opts
    )


def _check_prepare(result, host: str, rid: str) -> None:
    """Turn the prepare script's exit code into the step that failed and its last output lines."""
    if result.returncode == 0:
        return
    tail = " | ".join((result.stdout + "\n" + result.stderr).strip().splitlines()[-8:])
    step = {
        10: "creating the venv (is python3-venv installed?)",
        11: "pip install of the wheels",
        12: "the bundle self-test (the Pi's outputs differ from the host's)",
    }.get(result.returncode, f"preparing the release (exit {result.returncode})")
    raise DeployError(f"{step} failed on {host}: {tail}")


def _discard(remote: Remote, target: Target, rid: str) -> None:
    """Best effort: remove a failed release (a dropped connection leaves it for the next prune)."""
    try:
        remote.run_file(
            "remote_releases.sh",
            "discard",
            target.remote_dir,
            rid,
            what="removing the failed release",
            timeout=60,
        )
    except DeployError as exc:
        log.warning(
            "could not remove the failed release %s now (%s); the next deploy prunes it", rid, exc
        )


def _check_unit_on_pi(remote: Remote, unit: str, root: str, rid: str, echo) -> None:
    """systemd-analyze verify + security on the Pi for the unit aimed at the new release, before
    `current` switches to it (installing nothing); DeployError if systemd rejects it."""
    trial = unit.replace(f"{root.rstrip('/')}/current", f"{root.rstrip('/')}/releases/{rid}")
    result = remote.run_file(
        "remote_service.sh",
        trial,
        "check",
        str(service.SECURITY_THRESHOLD),
        what="checking the service unit",
        check=False,
    )
    rating = result.fields().get("security")
    if result.returncode == 0:
        echo(f"unit: {service.UNIT_NAME} verified" + (f", exposure {rating}" if rating else ""))
        return
    why = pi_tail(result.stdout + result.stderr)
    step = {
        30: "systemd-analyze verify rejected the unit",
        32: f"systemd-analyze security rates the unit above {service.SECURITY_THRESHOLD / 10:.1f}",
    }.get(result.returncode, f"checking the unit (exit {result.returncode})")
    raise DeployError(f"{step} on {remote.target.describe()}: {why}")


def _service_step(
    remote: Remote,
    opts: DeployOptions,
    info: dict,
    unit: str | None,
    rid: str,
    previous: str,
    echo,
) -> str:
    """Install and restart the unit; on failure switch `current` back and raise."""
    target = remote.target
    run_hint = (
        f"{info['root']}/current/venv/bin/edgesign run --bundle {info['root']}/current/bundle"
    )
    if not opts.service:
        echo(f"service: skipped (--no-service); start it yourself with: {run_hint}")
        return "skipped"
    if info["systemd"] != "yes":
        echo(
            f"service: skipped: no systemd (systemctl) on {target.describe()}; the release is "
            "active, "
            f"run it with: {run_hint}"
        )
        return "no-systemd"
    result = remote.run_file(
        "remote_service.sh",
        unit,
        "install",
        str(service.SECURITY_THRESHOLD),
        what="installing the service",
        check=False,
    )
    if result.returncode == 0:
        echo(f"service: {service.UNIT_NAME} enabled and active (User={info['user']})")
        return "active"
    why = " | ".join((result.stdout + result.stderr).strip().splitlines()[-10:])
    if previous:
        remote.run_file(
            "remote_releases.sh", "switch", target.remote_dir, previous, "0", what="switching back"
        )
        remote.run_file("remote_restart.sh", what="restarting the previous release", check=False)
        raise DeployError(
            f"{service.UNIT_NAME} did not stay active with release {rid}; switched current "
            f"back to {previous} and restarted it. systemd said: {why}"
        )
    raise DeployError(
        f"{service.UNIT_NAME} did not stay active with release {rid} (there was no earlier "
        f"release to go back to). systemd said: {why}"
    )
