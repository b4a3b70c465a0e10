"""What a Pi must have to take a release (64-bit userland, Python with venv, rsync, glibc), asked
once over ssh (`remote_probe.sh`) before anything is uploaded."""

from __future__ import annotations

from edgesign.core.text import printable
from edgesign.deploy.errors import DeployError
from edgesign.deploy.remote import Remote

#: the machines edgesign deploys to (64-bit Raspberry Pi OS; x86_64 for tests and other boards)
SUPPORTED_MACHINES = ("aarch64", "x86_64")


def check_probe(info: dict, python: str, host: str) -> None:
    """Raise DeployError unless the Pi can run a release: 64-bit Python 3 with venv, rsync,
    glibc."""
    if not info.get("python"):
        raise DeployError(
            f"no `{python}` on {host}: install Python 3 "
            "(`sudo apt install python3 python3-venv`) or pass --python PATH"
        )
    # what the Pi says about itself is shown escaped: it reaches the terminal
    machine = printable(info.get("machine", ""))
    bits = printable(info.get("python_bits", ""))
    if machine.startswith("armv") or machine == "armhf" or (machine == "aarch64" and bits == "32"):
        raise DeployError(
            f"{host} runs a 32-bit userland ({machine}, {bits or '32'}-bit Python): LiteRT "
            "(ai-edge-litert) publishes no wheels for 32-bit ARM. Install the 64-bit Raspberry Pi "
            "OS "
            "(bookworm arm64) and deploy again."
        )
    if machine not in SUPPORTED_MACHINES:
        raise DeployError(
            f"{host} is a {machine or 'unknown'} machine; edgesign deploys to "
            f"{' or '.join(SUPPORTED_MACHINES)} (64-bit Raspberry Pi OS)"
        )
    if info.get("venv") != "yes":
        raise DeployError(
            f"{printable(info['python'], 200)} on {host} cannot make virtual environments (no venv/"
            "ensurepip): `sudo apt install python3-venv` on the Pi"
        )
    if info.get("rsync") != "yes":
        raise DeployError(f"rsync is not installed on {host}: `sudo apt install rsync` on the Pi")
    if not info.get("python_version") or not info.get("libc", "").startswith("glibc"):
        raise DeployError(f"could not read the Python version / C library of {host}: {info}")


def probe(remote: Remote, python: str) -> dict:
    """The Pi's answers (`remote_probe.sh`), checked by `check_probe`."""
    info = remote.run_file(
        "remote_probe.sh", python, remote.target.remote_dir, what="probing the Pi"
    ).fields()
    check_probe(info, python, remote.target.describe())
    return info
