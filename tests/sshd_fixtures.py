"""The deploy tests' real sshd (on loopback, or inside the arm64 "Pi" userland) as pytest fixtures.

The server itself lives in benchmarks/sshd.py, which benchmarks/bench_fleet.py starts too (the
benchmarks import nothing from tests/); here a machine that cannot run it skips the test.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import sshd  # noqa: E402
from sshd import (  # noqa: E402, F401  (re-exported for the tests)
    LOOPBACK,
    TEST_USER,
    SshdUnavailable,
    SshServer,
    stop_chroot_server,
    stop_loopback_server,
)


def _skipping(start):
    """`start`, with SshdUnavailable turned into a skip of the test."""

    @functools.wraps(start)
    def wrapper(*args, **kwargs):
        try:
            return start(*args, **kwargs)
        except SshdUnavailable as exc:
            pytest.skip(str(exc))

    return wrapper


skip_unless_sshd_possible = _skipping(sshd.check_sshd_possible)
start_loopback_server = _skipping(sshd.start_loopback_server)
start_chroot_server = _skipping(sshd.start_chroot_server)


@pytest.fixture(scope="session")
def ssh_server():
    """A real sshd on loopback with a throwaway account, host key and client key."""
    server = start_loopback_server()
    yield server
    stop_loopback_server(server)


@pytest.fixture(scope="session")
def pi_arm64():
    """sshd inside the debootstrapped bookworm arm64 userland (skipped unless `make pi-image`
    ran)."""
    server = start_chroot_server()
    yield server
    stop_chroot_server(server)
