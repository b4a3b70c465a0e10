"""Wheels for the Pi, built on the host: edgesign's device part plus the device extra's wheels.

The Pi gets a wheel of `edgesign.device` only (same project name and version, so
`edgesign[device]` resolves): training, conversion and deploy code need TensorFlow or ssh and
are never run there, and `edgesign --help` on the Pi lists only what works there.

Offline Pis are common, so the Pi installs with `pip --no-index` from what we upload. The
third-party wheels are downloaded once per (Python, platform) into a cache outside the repo.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgesign.core.files import cache_root
from edgesign.deploy.errors import DeployError

log = logging.getLogger(__name__)

#: The packages the Pi's wheel holds (with their subpackages): the shared core, the command line
#: and the device part; and the extras it keeps.
DEVICE_PACKAGES = ("edgesign.core", "edgesign.cli", "edgesign.device")
DEVICE_EXTRAS = ("device", "webcam")
OLDEST_MANYLINUX = (
    17  # manylinux_2_17 == manylinux2014, the oldest tag numpy and friends still ship
)
#: Pins for the Pi's venv. Raspberry Pi OS bookworm's apt picamera2/simplejpeg are built for its
#: numpy 1.24; the venv sees them (--system-site-packages), and a numpy 2 in the venv would shadow
#: that numpy and break them. ml_dtypes (a LiteRT dependency) needs numpy>=2 from 0.5 on.
PI_CONSTRAINTS = ("numpy<2", "ml-dtypes<0.5")
CONSTRAINTS_FILE = "constraints.txt"
#: downloaded beside the wheels: the Pi runs pip from its wheel instead of installing it per venv
PIP = "pip"


def write_constraints(folder: Path) -> Path:
    """The Pi pins as a pip constraints file in `folder` (used for download and for the Pi's
    install)."""
    path = folder / CONSTRAINTS_FILE
    path.write_text("".join(line + "\n" for line in PI_CONSTRAINTS))
    return path


def project_root() -> Path:
    """The source tree this edgesign runs from (an editable install or a checkout)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").is_file() and (here / "device").is_dir():
        return here
    raise DeployError(
        "cannot find the edgesign source tree to build a wheel from "
        "(run from a checkout with `pip install -e .`, or pass --wheelhouse with an edgesign wheel)"
    )


def _toml(value) -> str:
    """A TOML value for the str / list / dict-of-those values a pyproject uses."""
    import json

    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise DeployError(f"pyproject value {value!r} cannot be copied into the device wheel")


def device_pyproject(root: Path) -> tuple:
    """(pyproject.toml text, {package: folder}) for a wheel of the device part only.

    Derived from the project's own pyproject: same name, version and core dependencies, the
    DEVICE_EXTRAS, the `edgesign` script, and only the packages under DEVICE_PACKAGES.
    """
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        raise DeployError("building the Pi's wheel needs Python 3.11 or later (tomllib)") from None
    data = tomllib.loads((root / "pyproject.toml").read_text())
    project = data["project"]
    tool = data.get("tool", {}).get("setuptools", {})
    packages = [
        p
        for p in tool.get("packages", [])
        if any(p == top or p.startswith(top + ".") for top in DEVICE_PACKAGES)
    ]
    folders = {p: d for p, d in tool.get("package-dir", {}).items() if p in packages}
    for top in DEVICE_PACKAGES:
        if top not in packages or top not in folders:
            raise DeployError(f"{root / 'pyproject.toml'}: no package {top} with a folder")
    extras = {
        k: v for k, v in project.get("optional-dependencies", {}).items() if k in DEVICE_EXTRAS
    }
    if "device" not in extras:
        raise DeployError(f"{root / 'pyproject.toml'}: no `device` extra")
    lines = [
        "[build-system]",
        'requires = ["setuptools>=68"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
    ]
    for key in ("name", "version", "requires-python", "license"):
        if key in project:
            lines.append(f"{key} = {_toml(project[key])}")
    description = project.get("description", "edgesign") + " (device part)"
    lines.append(f"description = {_toml(description)}")
    lines.append(f"dependencies = {_toml(project.get('dependencies', []))}")
    lines += ["", "[project.optional-dependencies]"]
    lines += [f"{k} = {_toml(v)}" for k, v in extras.items()]
    lines += ["", "[project.scripts]"]
    lines += [f"{k} = {_toml(v)}" for k, v in project.get("scripts", {}).items()]
    lines += [
        "",
        "[tool.setuptools]",
        f"packages = {_toml(packages)}",
        "",
        "[tool.setuptools.package-dir]",
    ]
    lines += [f"{_toml(k)} = {_toml(v)}" for k, v in folders.items()]
    data_files = {k: v for k, v in tool.get("package-data", {}).items() if k in packages}
    if data_files:
        lines += ["", "[tool.setuptools.package-data]"] + [
            f"{_toml(k)} = {_toml(v)}" for k, v in data_files.items()
        ]
    return "\n".join(lines) + "\n", folders


def build_project_wheel(out_dir: Path, root: Path | None = None) -> Path:
    """Build the Pi's edgesign wheel (device part only) into `out_dir` from a source copy."""
    root = root or project_root()
    out_dir.mkdir(parents=True, exist_ok=True)
    pyproject, folders = device_pyproject(root)
    with tempfile.TemporaryDirectory(prefix="edgesign-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "pyproject.toml").write_text(pyproject)
        if (root / "LICENSE").is_file():
            shutil.copy2(root / "LICENSE", src / "LICENSE")
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for folder in sorted(set(folders.values())):  # device/ before device/hands/: copied once
            if not (src / folder).exists():
                shutil.copytree(root / folder, src / folder, ignore=ignore)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "-q",
                "-w",
                str(out_dir),
                str(src),
            ],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        raise DeployError(f"building the edgesign wheel failed: {proc.stderr.strip()[-800:]}")
    wheels = sorted(out_dir.glob("edgesign-*.whl"))
    if not wheels:
        raise DeployError(f"building the edgesign wheel produced no edgesign-*.whl in {out_dir}")
    return wheels[-1]


def platform_tags(machine: str, libc: str) -> list:
    """pip `--platform` tags a Pi with this machine and glibc can install, newest first.

    Listed explicitly because older pips do not widen `manylinux_2_X` to lower X, and LiteRT
    publishes only `manylinux_2_27_aarch64` (plain `manylinux2014_aarch64` finds none).
    """
    name, _, version = libc.partition("-")
    if name != "glibc":
        raise DeployError(
            f"the Pi's C library is {libc or 'unknown'}, not glibc: no manylinux wheels fit"
        )
    try:
        minor = int(version.split(".")[1])
    except (IndexError, ValueError):
        raise DeployError(f"cannot read the Pi's glibc version from {libc!r}") from None
    tags = [f"manylinux_2_{m}_{machine}" for m in range(minor, OLDEST_MANYLINUX - 1, -1)]
    return tags + [f"manylinux2014_{machine}", f"linux_{machine}"]


def download_dependencies(project_wheel: Path, python_version: str, tags: list, dest: Path) -> None:
    """`pip download` the device extra's wheels for the given Python and platform into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "-q",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--dest",
        str(dest),
        "--constraint",
        str(write_constraints(dest)),
    ]
    for tag in tags:
        argv += ["--platform", tag]
    # pip itself, run on the Pi from its wheel (remote_prepare.sh): the venv needs no pip copied
    argv += [f"{project_wheel}[device]", PIP]
    log.info("downloading wheels for Python %s on %s into %s", python_version, tags[0], dest)
    proc = subprocess.run(argv, capture_output=True, text=True)
    # pip copies the project wheel too; it is rebuilt per deploy, so it never lives in the cache.
    for stale in dest.glob("edgesign-*.whl"):
        stale.unlink()
    if proc.returncode != 0:
        raise DeployError(
            f"pip could not download the Pi's wheels (Python {python_version}, {tags[0]}): "
            f"{proc.stderr.strip()[-800:]}"
        )


def requirements_of(project_wheel: Path) -> list:
    """The Requires-Dist lines of a wheel (what the cache stamp depends on)."""
    import zipfile

    with zipfile.ZipFile(project_wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    return sorted(
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    )


def cached_dependencies(
    project_wheel: Path, python_version: str, tags: list, cache: Path | None = None
) -> Path:
    """A folder of the device extra's wheels for this Python/platform, downloaded once.

    The folder's name carries a hash of the requirements and pins, so deploys that need other
    wheels (another edgesign version) get a folder of their own instead of emptying this one,
    and a download lands in a hidden `.partial` folder renamed into place only when complete:
    several deploys on one computer never see, or delete, each other's half-finished wheels.
    """
    cache = cache or cache_root()
    stamp_text = "\n".join(requirements_of(project_wheel) + list(PI_CONSTRAINTS) + [PIP]) + "\n"
    key = hashlib.sha256(stamp_text.encode()).hexdigest()[:8]
    folder = cache / f"wheelhouse-cp{python_version.replace('.', '')}-{tags[0]}-{key}"
    stamp = folder / "requirements.stamp"
    if stamp.is_file() and any(folder.glob("*.whl")):
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=cache))
    try:
        download_dependencies(project_wheel, python_version, tags, partial)
        (partial / stamp.name).write_text(stamp_text)
        try:
            os.rename(partial, folder)
        except OSError:
            if not stamp.is_file():  # not just another deploy that finished the same download first
                raise DeployError(f"cannot store the downloaded wheels in {folder}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def check_device_wheel(wheel: Path) -> Path:
    """`wheel` if it is a readable edgesign wheel holding the device part only, else DeployError."""
    import zipfile

    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise DeployError(f"{wheel}: not a readable wheel ({exc})") from None
    prefixes = tuple(top.replace(".", "/") + "/" for top in DEVICE_PACKAGES)
    others = sorted(
        {
            "edgesign." + n.split("/")[1]
            for n in names
            if n.startswith("edgesign/") and not n.startswith(prefixes) and n.count("/") > 1
        }
    )
    missing = [
        top for top, p in zip(DEVICE_PACKAGES, prefixes) if not any(n.startswith(p) for n in names)
    ]
    if others or missing:
        raise DeployError(
            f"{wheel}: the Pi gets the device part only, but this wheel holds "
            f"{', '.join(others) or 'no ' + ', '.join(missing)}; remove it from "
            "--wheelhouse and deploy builds a device-only one"
        )
    return wheel


def find_project_wheel(folder: Path) -> Path | None:
    wheels = sorted(folder.glob("edgesign-*.whl"))
    return wheels[-1] if wheels else None


def digest_files(paths) -> str:
    """Short SHA-256 over the bytes of `paths` (names the release)."""
    from edgesign.core.hashing import sha256_file

    h = hashlib.sha256()
    for p in paths:
        h.update(sha256_file(p).encode())
    return h.hexdigest()[:10]
