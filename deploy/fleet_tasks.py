"""The fleet playbook's steps on this computer: stage one release for every Pi, upload it to one Pi.

The playbook (deploy/ansible/) runs them with `python -m edgesign.deploy.fleet_tasks ...`:

- `stage` once per run (`run_once`, `delegate_to: localhost`): the edgesign wheel, the bundle and
  the dependency wheels for each (machine, Python, libc) present in the inventory. Prints JSON.
- `upload` once per Pi: the same rsync calls as `edgesign deploy` (deployer.upload).

The release id names the content (model and edgesign wheel), and the wheel is built
reproducibly (SOURCE_DATE_EPOCH), so a rerun with the same bundle finds the Pis up to date.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from edgesign.core.errors import EdgesignError
from edgesign.core.text import printable
from edgesign.deploy import wheelhouse
from edgesign.deploy.deployer import release_id, upload
from edgesign.deploy.errors import DeployError
from edgesign.deploy.remote import Remote
from edgesign.deploy.settings import check_wheelhouse
from edgesign.deploy.staging import stage_release
from edgesign.deploy.target import Target, check_ssh_config

#: Fixed wheel timestamps (1980-01-01, the zip epoch) make the edgesign wheel byte-reproducible.
REPRODUCIBLE_EPOCH = "315532800"
#: Staged releases kept in the cache (older ones are removed when a new one is staged).
KEEP_STAGED = 3


def platform_key(machine: str, python_version: str, libc: str) -> str:
    """How the playbook names a Pi platform: 'aarch64 3.11 glibc-2.36'."""
    return f"{machine} {python_version} {libc}"


def stage(
    bundle_path: Path,
    platforms: list,
    out: Path,
    given_wheels: Path | None = None,
    plan: bool = False,
) -> dict:
    """Build and stage one release for all `platforms`; the dict the playbook reads."""
    from edgesign.device.bundle import load_bundle, load_selftest

    bundle = load_bundle(bundle_path)  # refuse to ship a bundle that is broken on the host already
    load_selftest(bundle)
    os.environ.setdefault("SOURCE_DATE_EPOCH", REPRODUCIBLE_EPOCH)
    out.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="stage-", dir=out))
    try:
        # the same staging as `edgesign deploy`: the bundle's allowlist, never a followed link
        project, bundle = stage_release(bundle.path, build / "release", given_wheels)
        digest = wheelhouse.digest_files([bundle.model_path, project])
        final = out / digest
        if final.exists():
            shutil.rmtree(final)
        build.rename(final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    _prune_staged(out, keep=final)
    project = final / "release" / "wheels" / project.name
    deps = {}
    for key in sorted(set(platforms)):
        machine, python_version, libc = key.split(" ")
        if given_wheels:
            deps[key] = str(check_wheelhouse(given_wheels))
        elif not plan:
            tags = wheelhouse.platform_tags(machine, libc)
            deps[key] = str(wheelhouse.cached_dependencies(project, python_version, tags))
    return {
        "release_id": release_id(digest),
        "digest": digest,
        "release_dir": str(final / "release"),
        "project_wheel": str(project),
        "bundle": str(Path(bundle_path).resolve()),
        "deps": deps,
    }


def _prune_staged(out: Path, keep: Path) -> None:
    """Remove all but the newest KEEP_STAGED staged releases (and never `keep`)."""
    staged = sorted(
        (p for p in out.iterdir() if p.is_dir() and p != keep and not p.name.startswith("stage-")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in staged[KEEP_STAGED - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def target_from_inventory(
    host: str,
    user: str = "",
    port: str = "",
    key: str = "",
    ssh_args: str = "",
    remote_dir: str = "edgesign",
) -> Target:
    """A deploy Target from a Pi's Ansible connection variables (ansible_host, _user, _port, ...).

    `ssh_args` (ansible_ssh_common_args + ansible_ssh_extra_args) may hold `-o Key=value`,
    `-F file`, `-i file` and `-p port`; anything else is refused rather than silently dropped.
    """
    options, config, words = [], None, shlex.split(ssh_args or "")
    while words:
        word = words.pop(0)
        if word in ("-o", "-F", "-i", "-p") and words:
            value = words.pop(0)
        elif word[:2] in ("-o", "-F", "-i", "-p") and len(word) > 2:
            word, value = word[:2], word[2:]
        else:
            raise DeployError(
                f"ssh argument {word!r} of {host} is not supported for the upload: use "
                "-o Key=value, -F file, -i key or -p port in ansible_ssh_common_args"
            )
        if word == "-o":
            options.append(value)
        elif word == "-F":
            config = check_ssh_config(Path(value).expanduser(), printable(host))
        elif word == "-i":
            key = key or value
        else:
            port = port or value
    if port and not (re.fullmatch(r"[0-9]{1,5}", str(port)) and 0 < int(port) < 65536):
        raise DeployError(f"ansible_port {printable(str(port))} of {printable(host)} is not a port")
    return Target(
        f"{user}@{host}" if user else host,
        port=int(port) if port else None,
        identity=Path(key).expanduser() if key else None,
        ssh_config=config,
        ssh_options=options,
        remote_dir=remote_dir,
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m edgesign.deploy.fleet_tasks", description=__doc__)
    sub = p.add_subparsers(dest="step", required=True)
    s = sub.add_parser("stage", help="build the release once; print JSON")
    s.add_argument("--bundle", required=True)
    s.add_argument("--platforms", default="[]", help="JSON list of platform keys")
    s.add_argument("--out", default=None, help="staging folder (default: the edgesign cache)")
    s.add_argument("--wheelhouse", default="", help="given wheels instead of the cached download")
    s.add_argument("--plan", action="store_true", help="check mode: no dependency download")
    u = sub.add_parser("upload", help="rsync the staged release to one Pi")
    for name in ("--host", "--release-dir", "--wheels", "--release-id"):
        u.add_argument(name, required=True)
    for name in ("--user", "--port", "--key", "--ssh-args"):
        u.add_argument(name, default="")
    u.add_argument("--remote-dir", default="edgesign")
    u.add_argument("--bwlimit", type=int, default=0)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.step == "stage":
            out = Path(args.out) if args.out else wheelhouse.cache_root() / "fleet"
            result = stage(
                Path(args.bundle),
                json.loads(args.platforms),
                out,
                Path(args.wheelhouse) if args.wheelhouse else None,
                plan=args.plan,
            )
            print(json.dumps(result))
        else:
            target = target_from_inventory(
                args.host, args.user, args.port, args.key, args.ssh_args, args.remote_dir
            )
            upload(
                Remote(target),
                Path(args.wheels),
                Path(args.release_dir),
                args.release_id,
                args.bwlimit or None,
            )
            print(f"uploaded release {args.release_id} to {target.describe()}")
    except EdgesignError as exc:  # the playbook shows this line as the task's failure
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
