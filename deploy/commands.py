"""Subcommands of the deploy part (registered by edgesign.cli.main): deploy, rollback, releases,
pull-data."""

from __future__ import annotations

from edgesign.core.options import add_command, number
from edgesign.device.commands import add_web_options

#: the most Pis `--forks` works on at once (each is an ssh connection and a process here)
MAX_FORKS = 500

DEFAULT_BUNDLE = "artifacts/convert/bundle"

#: deploy's settings of the Pi: option -> (metavar, help). Each is None when not given, so that
#: with --inventory each Pi's edgesign_<name> variable (or the role's default) applies, and given,
#: it sets that variable for every Pi (FLEET_OVERRIDES)
PI_SETTINGS = {
    "--python": (None, "Python on the Pi (default python3)"),
    "--keep": (None, "releases kept on the Pi, current included (default 3)"),
    "--run-args": (
        "ARGS",
        "extra arguments for `edgesign run` in the service, e.g. '--source webcam:0 --speak' "
        "(plain words only; checked before anything is uploaded)",
    ),
    "--selftest-tolerance": (
        "LSB",
        "largest int8 difference from the host's outputs the Pi's self-test accepts (default 0: "
        "bit exact; the self-test runs TFLite's reference kernels, which give the same bits on "
        "x86 and aarch64)",
    ),
    "--bwlimit": ("KIBPS", "limit upload bandwidth (rsync --bwlimit; 0: none)"),
}


def _add_ssh_options(
    p,
    remote_dir: str = "edgesign",
    remote_help: str = "folder on the Pi, relative to the home folder or absolute",
    fleet: bool = False,
) -> None:
    p.add_argument(
        "--host",
        required=not fleet,
        metavar="[USER@]HOST",
        help="the Pi, as you would give it to ssh (an ~/.ssh/config alias works)"
        + (" (or --inventory for many Pis)" if fleet else ""),
    )
    g = p.add_argument_group("ssh (your own ssh client, keys and agent; no passwords)")
    g.add_argument("--port", type=int, help="ssh port (default: ssh's, usually 22)")
    g.add_argument("--identity", "-i", help="private key file (default: ssh's / your agent)")
    g.add_argument("--ssh-config", "-F", help="ssh config file instead of ~/.ssh/config")
    g.add_argument(
        "--ssh-option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra ssh -o option, repeatable; only options for reaching and authenticating "
        "the Pi (StrictHostKeyChecking, UserKnownHostsFile, ConnectTimeout, ...): put others "
        "in your ssh config",
    )
    g.add_argument(
        "--remote-dir",
        # fleet commands: None when not given, so the inventory's edgesign_remote_dir applies
        default=None if fleet else remote_dir,
        help=f"{remote_help} (default: {remote_dir})"
        + (" (with --inventory: for every Pi, over edgesign_remote_dir)" if fleet else ""),
    )


def _target(args):
    from pathlib import Path

    from edgesign.deploy.target import DEFAULT_REMOTE_DIR, Target

    return Target(
        args.host,
        port=args.port,
        identity=Path(args.identity).expanduser() if args.identity else None,
        ssh_config=Path(args.ssh_config).expanduser() if args.ssh_config else None,
        ssh_options=list(args.ssh_option),
        remote_dir=args.remote_dir or DEFAULT_REMOTE_DIR,
    )


def register(subparsers) -> None:
    """Add this part's subcommands to the `edgesign` parser."""
    p = add_command(subparsers, "deploy", _run_deploy)
    _add_ssh_options(p, fleet=True)
    _add_fleet_options(p)
    p.add_argument(
        "--bundle", default=DEFAULT_BUNDLE, help=f"bundle folder (default {DEFAULT_BUNDLE})"
    )
    p.add_argument(
        "--wheelhouse",
        help="folder of wheels for the Pi's platform to use instead of the "
        "cached download (may include an edgesign wheel)",
    )
    p.add_argument(
        "--no-service", action="store_true", help="do not install or restart edgesign.service"
    )
    p.add_argument(
        "--allow-root-service",
        action="store_true",
        help="install the service even when you log in to the Pi as root, so that "
        "`edgesign run` runs as root (refused without this flag)",
    )
    p.add_argument(
        "--dry-run",
        "--check",
        action="store_true",
        help="print the plan; do not contact the Pi (with --inventory: Ansible's check mode, "
        "which probes the Pis read-only and changes nothing)",
    )
    add_web_options(
        p,
        "the service also serves the live view (`run --web`); a bare PORT listens on every "
        "address of the Pi (0.0.0.0:PORT), so other machines can open it",
        token_help="the live view needs ?token=TOKEN (with --web)",
    )
    g = p.add_argument_group(
        "settings of the Pi (with --inventory: for every Pi, over its edgesign_* variables)"
    )
    for flag, (metavar, help) in PI_SETTINGS.items():
        g.add_argument(flag, metavar=metavar, help=help)

    p = add_command(subparsers, "rollback", _run_rollback)
    _add_ssh_options(p, fleet=True)
    _add_fleet_options(p, rollout=False)
    p.add_argument("--to", metavar="ID", help="release to switch to (see `edgesign releases`)")
    p.add_argument("--no-service", action="store_true", help="do not restart the service")

    p = add_command(subparsers, "releases", _run_releases)
    _add_ssh_options(p)

    p = add_command(subparsers, "pull-data", _run_pull)
    _add_ssh_options(p, "data/collected", "data set folder on the Pi, relative to home or absolute")
    p.add_argument("--dest", required=True, help="local folder to copy into")
    p.add_argument("--no-frames", action="store_true", help="skip the full frames in _frames/")


def _add_fleet_options(p, rollout: bool = True) -> None:
    g = p.add_argument_group(
        "fleet (Ansible; per-Pi ssh settings and edgesign_* variables live in the inventory)"
    )
    g.add_argument("--inventory", metavar="FILE", help="Ansible inventory (INI or YAML) of the Pis")
    g.add_argument(
        "--forks",
        type=number(int, 1, MAX_FORKS),
        help=f"Pis worked on at once, 1 to {MAX_FORKS} (Ansible forks; default 10)",
    )
    g.add_argument(
        "--limit", metavar="PATTERN", help="only these hosts or groups (ansible --limit)"
    )
    g.add_argument(
        "--summary-json", metavar="FILE", help="also write the per-Pi summary as JSON here"
    )
    if rollout:
        g.add_argument(
            "--serial",
            default="1,20%,100%",
            metavar="BATCHES",
            help="rollout batches, canary first (default 1,20%%,100%%)",
        )
        g.add_argument(
            "--max-fail-percentage",
            type=int,
            default=0,
            metavar="PCT",
            help="stop the rollout when more than PCT%% of a batch fails (default 0: any failure)",
        )
    if not rollout:
        g.add_argument(
            "--check", action="store_true", help="show what would be switched; change nothing"
        )


def _fleet_or_host(args) -> bool:
    """True for a fleet run (--inventory); refuses --inventory with --host."""
    from pathlib import Path

    from edgesign.core.text import printable
    from edgesign.deploy.errors import DeployError

    if args.inventory and args.host:
        raise DeployError("give --host (one Pi) or --inventory (many Pis), not both")
    if not args.inventory and not args.host:
        raise DeployError("no host given: pass --host USER@HOST or --inventory FILE")
    if args.inventory and (args.port or args.identity or args.ssh_config or args.ssh_option):
        raise DeployError(
            "with --inventory, ssh settings go into the inventory (ansible_port, "
            "ansible_user, ansible_ssh_private_key_file, ansible_ssh_common_args)"
        )
    if args.host:
        _refuse_fleet_options(args)
        for option, value in (("--ssh-config", args.ssh_config), ("--identity", args.identity)):
            if value and not Path(value).expanduser().is_file():
                raise DeployError(f"{option} {printable(value)}: no such file")
    return bool(args.inventory)


def _refuse_fleet_options(args) -> None:
    """A single-host run would silently ignore the fleet's options (--serial 0, --limit x)."""
    from edgesign.deploy.errors import DeployError
    from edgesign.deploy.fleet import DEFAULT_SERIAL

    given = {
        "--forks": args.forks is not None,
        "--limit": args.limit is not None,
        "--summary-json": args.summary_json is not None,
        "--serial": getattr(args, "serial", DEFAULT_SERIAL) != DEFAULT_SERIAL,
        "--max-fail-percentage": getattr(args, "max_fail_percentage", 0) != 0,
        "--check": getattr(args, "check", False),
    }
    for option, used in given.items():
        if used:
            raise DeployError(f"{option} is for a fleet (--inventory), not one --host")


#: deploy options that set a per-Pi edgesign_* variable with --inventory (validated by the same
#: deploy/settings.py checks as the inventory's own values and as a single-host deploy's)
FLEET_OVERRIDES = {
    name: f"edgesign_{name}"
    for name in (flag[2:].replace("-", "_") for flag in (*PI_SETTINGS, "--remote-dir"))
}
#: single-host options the fleet playbook has no way to apply: refused rather than ignored
FLEET_REFUSED = {
    "web": "--web",
    "web_token": "--web-token",
    "allow_root_service": "--allow-root-service",
}


def fleet_overrides(args) -> dict:
    """The edgesign_* extra variables the command line sets for every Pi, checked."""
    from edgesign.deploy.errors import DeployError
    from edgesign.deploy.settings import HOST_SETTINGS

    for attr, flag in FLEET_REFUSED.items():
        if getattr(args, attr, None):
            raise DeployError(
                f"{flag} is not supported with --inventory; deploy that Pi with --host, or set "
                "edgesign_run_args per Pi in the inventory"
            )
    overrides = {}
    for attr, var in FLEET_OVERRIDES.items():
        value = getattr(args, attr, None)
        if value is not None:
            flag = "--" + attr.replace("_", "-")
            checked = HOST_SETTINGS[var](value, flag)
            overrides[var] = list(checked) if isinstance(checked, tuple) else checked
    return overrides


def _run_deploy(args) -> int:
    """put a bundle and the device runtime on a Raspberry Pi over ssh and start it

    Upload the bundle and a venv's worth of wheels into a new release folder on the Pi, install
    offline, run `edgesign selftest` there, then switch ~/edgesign/current atomically and restart
    edgesign.service. Any failure before the switch leaves the Pi as it was. With --inventory, the
    same on every Pi of an Ansible inventory, in canary batches (needs the fleet extra:
    ansible-core).
    """
    from pathlib import Path

    if _fleet_or_host(args):
        from edgesign.deploy.fleet import deploy_fleet

        return deploy_fleet(
            Path(args.inventory),
            Path(args.bundle),
            serial=args.serial,
            max_fail_percentage=args.max_fail_percentage,
            check=args.dry_run,
            forks=args.forks,
            limit=args.limit,
            wheelhouse=Path(args.wheelhouse) if args.wheelhouse else None,
            service=not args.no_service,
            summary=Path(args.summary_json) if args.summary_json else None,
            overrides=fleet_overrides(args),
        )

    from edgesign.deploy.deployer import DeployOptions, deploy
    from edgesign.deploy.service import parse_run_args

    run_args, address = parse_run_args(args.run_args or ""), _web_args(args)
    given = {
        name: getattr(args, name)
        for name in ("python", "keep", "bwlimit", "selftest_tolerance")
        if getattr(args, name) is not None
    }
    opts = DeployOptions(
        bundle=Path(args.bundle),
        wheelhouse=Path(args.wheelhouse) if args.wheelhouse else None,
        service=not args.no_service,
        run_args=run_args + address[0],
        web_token=args.web_token if address[0] else None,
        allow_root_service=args.allow_root_service,
        dry_run=args.dry_run,
        **given,
    )
    deploy(_target(args), opts, echo=lambda line: print(line, flush=True))
    if address[1]:
        print(f"live view: open {address[1]}", flush=True)
    return 0


def _web_args(args):
    """(extra `run` arguments, address to open) for `deploy --web`; ((), None) without it."""
    from edgesign.core.errors import EdgesignError
    from edgesign.deploy.staging import WEB_TOKEN_FILE
    from edgesign.device.web.access import parse_address, web_token

    if args.web is None:
        if args.web_token is not None:
            raise EdgesignError("--web-token needs --web")
        return (), None
    host, port = parse_address(args.web, default_host="0.0.0.0")
    # an empty token must not quietly mean "no token"; environ={}: only what was typed here
    token = web_token(args.web_token, None, environ={})
    # the unit (world-readable) and `ps` on the Pi see only the file's name; the token is
    # uploaded as the release's 0600 file WEB_TOKEN_FILE, beside the unit's WorkingDirectory
    extra = ("--web", f"{host}:{port}") + (("--web-token-file", WEB_TOKEN_FILE) if token else ())
    pi = args.host.rsplit("@", 1)[-1] if host in ("0.0.0.0", "::") else host
    pi = f"[{pi}]" if ":" in pi else pi
    return extra, f"http://{pi}:{port}/" + (f"?token={args.web_token}" if args.web_token else "")


def _run_rollback(args) -> int:
    """switch the Pi back to the previous release and restart the service

    Point ~/edgesign/current at the release before it (or --to ID) and restart edgesign.service if
    it is installed. With --inventory, every Pi of an Ansible inventory.
    """
    from edgesign.deploy.releases import rollback

    if _fleet_or_host(args):
        from pathlib import Path

        from edgesign.deploy.fleet import rollback_fleet

        return rollback_fleet(
            Path(args.inventory),
            to=args.to,
            service=not args.no_service,
            check=args.check,
            forks=args.forks,
            limit=args.limit,
            summary=Path(args.summary_json) if args.summary_json else None,
            overrides=fleet_overrides(args),
        )

    rollback(_target(args), to=args.to, restart=not args.no_service)
    return 0


def _run_releases(args) -> int:
    """list the releases on a Pi and which one is current"""
    from edgesign.deploy.releases import list_releases
    from edgesign.deploy.remote import Remote

    current, releases = list_releases(Remote(_target(args)))
    if not releases:
        print("no releases")
    for rid, complete in releases:
        mark = "*" if rid == current else " "
        print(f"{mark} {rid}{'' if complete else '  (incomplete)'}")
    return 0


def _run_pull(args) -> int:
    """copy images collected on the Pi (folder per class) back to this computer

    rsync a folder-per-class data set recorded with `edgesign collect` from the Pi. Local files are
    never deleted; reruns copy only what is new.
    """
    from pathlib import Path

    from edgesign.deploy.pull import pull_data

    pull_data(_target(args), args.remote_dir, Path(args.dest), frames=not args.no_frames)
    return 0
