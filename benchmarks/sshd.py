"""A real OpenSSH server for deploys: on loopback, or inside the arm64 "Pi" userland.

The deploy tests (through tests/sshd_fixtures.py, which turns SshdUnavailable into a skip) and
benchmarks/bench_fleet.py both start their "Pis" here. Each server gets a throwaway host key, a
client key in its authorized_keys and a client ssh_config with a `Host` alias, so deploys go
through the same `ssh -F` path a user's config would. Needs root (to add the test account /
chroot), `/usr/sbin/sshd` and `rsync`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgesign.deploy.target import Target

LOOPBACK = "127.0.0.1"
# One throwaway account per test process, so parallel test runs on one machine never meet.
TEST_USER_PREFIX = "edgesign-pi-"
TEST_USER = f"{TEST_USER_PREFIX}{os.getpid()}"
PI_ROOT = Path(os.environ.get("EDGESIGN_PI_ROOT", "/var/cache/edgesign/pi-arm64"))
PI_READY = PI_ROOT / ".edgesign-pi-image-ready"
CLEAN_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SshdUnavailable(RuntimeError):
    """This machine cannot run the server: a tool, root or the arm64 userland is missing."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True
    )


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):  # the banner, so sshd is really serving
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"sshd did not listen on {port} within {timeout} s: {log.read_text()[-2000:]}"
    )


@dataclass
class SshServer:
    """A running sshd and what a client needs to reach it as `alias`."""

    user: str
    home: Path  # the account's home as seen from this (host) side
    port: int
    work: Path  # client key, ssh_config, known_hosts, sshd log
    proc: subprocess.Popen
    alias: str = "edgesign-test-pi"
    chroot: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> Path:
        return self.work / "id_ed25519"

    @property
    def ssh_config(self) -> Path:
        return self.work / "ssh_config"

    @property
    def log(self) -> Path:
        return self.work / "sshd.log"

    def target(self, **kw) -> Target:
        """A deploy Target for this server through its ssh_config alias."""
        return Target(f"{self.user}@{self.alias}", ssh_config=self.ssh_config, **kw)

    def cli_args(self) -> list:
        return ["--host", f"{self.user}@{self.alias}", "--ssh-config", str(self.ssh_config)]

    def session_pids(self) -> list:
        """Every process below sshd's listener: per-connection sshd processes and what they run."""
        children = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(
                    int(entry.name)
                )
        found, todo = [], list(children.get(self.proc.pid, []))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo += children.get(pid, [])
        return found

    def kill_sessions(self) -> int:
        """Drop every open connection the way a lost link would: SIGKILL the whole session tree, no
        goodbye."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _write_client_files(work: Path, user: str, port: int, host_pub: str, alias: str) -> None:
    (work / "known_hosts").write_text(f"[{LOOPBACK}]:{port} {host_pub}")
    (work / "ssh_config").write_text(
        f"Host {alias}\n"
        f"  HostName {LOOPBACK}\n  Port {port}\n  User {user}\n"
        f"  IdentityFile {work / 'id_ed25519'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {work / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
        f"  BatchMode yes\n"
    )


def _sshd_config(port: int, host_key: str, pid_file: str, user: str) -> str:
    # UsePAM no: no PAM stack in the test; the account's password field must then be `*`, not `!`.
    return (
        f"Port {port}\nListenAddress {LOOPBACK}\nHostKey {host_key}\nPidFile {pid_file}\n"
        "UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin no\n"
        f"AllowUsers {user}\nAuthorizedKeysFile .ssh/authorized_keys\nStrictModes yes\n"
        "LogLevel VERBOSE\n"
    )


def _install_authorized_key(home: Path, uid: int, gid: int, pub: str) -> None:
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(pub)
    for p in (home, ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(p, uid, gid)
    (ssh_dir / "authorized_keys").chmod(0o600)


def check_sshd_possible() -> None:
    """Raise SshdUnavailable unless ssh, ssh-keygen, rsync, sshd and root are all here."""
    missing = [t for t in ("ssh", "ssh-keygen", "rsync") if shutil.which(t) is None]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("/usr/sbin/sshd")
    if missing:
        raise SshdUnavailable(
            f"needs {', '.join(missing)} (apt-get install openssh-server openssh-client rsync)"
        )
    if os.geteuid() != 0:
        raise SshdUnavailable("needs root to create the throwaway ssh test account")


def start_loopback_server(user: str = TEST_USER) -> SshServer:
    """sshd on 127.0.0.1 for a fresh local account `user` whose home is a throwaway folder.

    Several can run at once with different `user`s (the fleet tests start one "Pi" each)."""
    check_sshd_possible()
    work = Path(tempfile.mkdtemp(prefix="edgesign-sshd-"))
    work.chmod(0o755)  # the account must be able to reach its home below this folder
    home = work / "home"
    for entry in pwd.getpwall():  # accounts left over by interrupted runs whose process is gone
        pid = entry.pw_name[len(TEST_USER_PREFIX) :].split("-")[0]  # the fleet's: PID-N
        if (
            entry.pw_name.startswith(TEST_USER_PREFIX)
            and pid.isdigit()
            # only dead runs' accounts: this process may have a server running already (the
            # fleet tests start several), and its own `user` is handled just below
            and not Path(f"/proc/{pid}").exists()
        ):
            subprocess.run(["userdel", entry.pw_name], check=False)
            subprocess.run(["groupdel", entry.pw_name], check=False, capture_output=True)
    try:  # a named account (the fleet's "Pis") left over from an interrupted run
        pwd.getpwnam(user)
        subprocess.run(["userdel", user], check=True)
    except KeyError:
        pass
    subprocess.run(
        [
            "useradd",
            "--no-create-home",
            "--home-dir",
            str(home),
            "--shell",
            "/bin/bash",
            "--user-group",
            user,
        ],
        check=True,
    )
    subprocess.run(["usermod", "-p", "*", user], check=True)
    entry = pwd.getpwnam(user)
    home.mkdir(mode=0o755)
    _keygen(work / "ssh_host_ed25519_key", "edgesign-test-host")
    _keygen(work / "id_ed25519", "edgesign-test-client")
    _install_authorized_key(home, entry.pw_uid, entry.pw_gid, (work / "id_ed25519.pub").read_text())
    port = _free_port()
    (work / "sshd_config").write_text(
        _sshd_config(port, str(work / "ssh_host_ed25519_key"), str(work / "sshd.pid"), user)
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    _write_client_files(
        work, user, port, (work / "ssh_host_ed25519_key.pub").read_text(), "edgesign-test-pi"
    )
    log = work / "sshd.log"
    proc = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(work / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
    )
    server = SshServer(user, home, port, work, proc)
    try:
        _wait_for_port(port, proc, log)
    except RuntimeError:
        stop_loopback_server(server)
        raise
    return server


def _kill_processes_of(uid: int) -> None:
    """SIGKILL, by pid, what the throwaway test account still runs (a dropped session's
    leftovers)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


def stop_loopback_server(server: SshServer) -> None:
    server.stop()
    try:
        _kill_processes_of(pwd.getpwnam(server.user).pw_uid)
    except KeyError:  # another test session on this machine already removed the account
        pass
    subprocess.run(["userdel", server.user], check=False)
    subprocess.run(["groupdel", server.user], check=False, capture_output=True)
    shutil.rmtree(server.work, ignore_errors=True)


def start_chroot_server(root: Path = PI_ROOT, user: str = "pi") -> SshServer:
    """sshd inside the arm64 userland (run by qemu-user), with a clean environment and no /sys."""
    if not (root / ".edgesign-pi-image-ready").is_file():
        raise SshdUnavailable(
            f"no arm64 userland at {root}: build it with `make pi-image` (about 10 minutes)"
        )
    check_sshd_possible()
    work = Path(tempfile.mkdtemp(prefix="edgesign-sshd-arm64-"))
    inside = root / "etc/ssh/edgesign-test"
    shutil.rmtree(inside, ignore_errors=True)
    inside.mkdir(parents=True)
    uid, gid, home_inside = None, None, None
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            uid, gid, home_inside = int(fields[2]), int(fields[3]), fields[5]
    if uid is None:
        raise RuntimeError(
            f"no account {user!r} in {root}/etc/passwd; rebuild with `make pi-image`"
        )
    home = root / home_inside.lstrip("/")
    _keygen(inside / "ssh_host_ed25519_key", "edgesign-arm64-host")
    _keygen(work / "id_ed25519", "edgesign-test-client")
    _install_authorized_key(home, uid, gid, (work / "id_ed25519.pub").read_text())
    port = _free_port()
    (inside / "sshd_config").write_text(
        _sshd_config(
            port,
            "/etc/ssh/edgesign-test/ssh_host_ed25519_key",
            "/etc/ssh/edgesign-test/sshd.pid",
            user,
        )
    )
    (root / "run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
    _write_client_files(
        work, user, port, (inside / "ssh_host_ed25519_key.pub").read_text(), "edgesign-test-pi"
    )
    log = work / "sshd.log"
    # env -i: nothing of the host's environment leaks into the "Pi"; no /proc or /sys is mounted.
    proc = subprocess.Popen(
        [
            "chroot",
            str(root),
            "/usr/bin/env",
            "-i",
            CLEAN_PATH,
            "/usr/sbin/sshd",
            "-D",
            "-e",
            "-f",
            "/etc/ssh/edgesign-test/sshd_config",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
    )
    server = SshServer(user, home, port, work, proc, chroot=root)
    try:
        _wait_for_port(port, proc, log, timeout=120)
    except RuntimeError:
        server.stop()
        raise
    return server


def stop_chroot_server(server: SshServer) -> None:
    server.stop()
    shutil.rmtree(server.chroot / "etc/ssh/edgesign-test", ignore_errors=True)
    shutil.rmtree(server.work, ignore_errors=True)
