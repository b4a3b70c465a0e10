"""`deploy --web PORT`: the service's `run` serves the live view, and deploy prints where to open
it."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from edgesign.core.errors import EdgesignError
from edgesign.deploy import service
from edgesign.deploy.commands import _web_args


def test_a_bare_port_serves_the_network_of_the_pi_and_names_the_address():
    extra, url = _web_args(SimpleNamespace(web="8080", web_token=None, host="pi@raspberrypi.local"))
    assert extra == ("--web", "0.0.0.0:8080") and url == "http://raspberrypi.local:8080/"
    extra, url = _web_args(SimpleNamespace(web="10.0.0.7:9000", web_token="t0k", host="pi"))
    # the token goes to the release as a 0600 file: the unit and `ps` on the Pi name the file only
    assert (
        extra == ("--web", "10.0.0.7:9000", "--web-token-file", "web-token")
        and url == "http://10.0.0.7:9000/?token=t0k"
    )
    unit = service.render_unit("pi", "/home/pi/edgesign", extra)
    service.check_unit_text(unit)
    assert (
        "run --bundle /home/pi/edgesign/current/bundle --web 10.0.0.7:9000 "
        "--web-token-file web-token\n" in unit
    )
    assert "t0k" not in unit and "WorkingDirectory=/home/pi/edgesign/current\n" in unit
    with pytest.raises(EdgesignError, match="--web"):
        _web_args(SimpleNamespace(web="http", web_token=None, host="pi"))
    with pytest.raises(EdgesignError, match="--web-token needs --web"):
        _web_args(SimpleNamespace(web=None, web_token="x", host="pi"))
    for empty in ("", "  "):  # never quietly "no token"
        with pytest.raises(EdgesignError, match="--web-token is empty"):
            _web_args(SimpleNamespace(web="8080", web_token=empty, host="pi"))


def test_the_token_file_of_a_release_is_the_service_users_alone(tmp_path, monkeypatch):
    from edgesign.deploy.staging import write_web_token
    from edgesign.device.web.access import web_token

    monkeypatch.delenv("EDGESIGN_WEB_TOKEN", raising=False)
    path = write_web_token(tmp_path, "t0k")
    assert path.name == "web-token" and (path.stat().st_mode & 0o777) == 0o600
    assert web_token(None, str(path)) == "t0k"  # what `run --web-token-file web-token` reads


def test_dry_run_prints_the_live_view_address(bundle_dir):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesign.cli.main",
            "deploy",
            "--dry-run",
            "--host",
            "pi@raspberrypi.local",
            "--bundle",
            str(bundle_dir),
            "--web",
            "8080",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "live view: open http://raspberrypi.local:8080/"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesign.cli.main",
            "deploy",
            "--dry-run",
            "--host",
            "pi",
            "--bundle",
            str(bundle_dir),
            "--web",
            "99999",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--web 99999" in proc.stderr and "Traceback" not in proc.stderr
