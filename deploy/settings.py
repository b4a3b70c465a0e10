"""The per-Pi deploy settings, checked by one set of functions wherever they come from.

`edgesign deploy --host` options, `edgesign deploy --inventory` options and an inventory's
`edgesign_*` variables reach the Pi through the same remote scripts, so they are checked by the
same code, before anything is contacted (a dry run too). A value the scripts would refuse only
after the upload (`--keep -1`, `edgesign_keep="3; touch x"`) used to leave a whole release on
the Pi; a value nothing reads (a typo) was silently ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgesign.core.text import printable
from edgesign.deploy.errors import DeployError
from edgesign.deploy.service import check_run_args, parse_run_args
from edgesign.deploy.target import validate_remote_dir

#: Releases kept on the Pi, the current one included.
KEEP_RANGE = (1, 100)
#: An int8 output can differ from the host's by 255 steps at most.
TOLERANCE_RANGE = (0, 255)
#: KiB/s for rsync --bwlimit; 0 means no limit.
BWLIMIT_RANGE = (0, 10**9)
# The Pi's Python, as the probe runs it: a command name or a path, nothing a shell reads.
_PYTHON_RE = re.compile(r"[A-Za-z0-9._+/][A-Za-z0-9._+/-]{0,254}")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TRUE, _FALSE = ("1", "yes", "true", "on"), ("0", "no", "false", "off")


def _whole_number(value, name: str, bounds: tuple, meaning: str) -> int:
    low, high = bounds
    # bool is an int to Python, and INI inventories hand over strings: accept digits only
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value.strip()):
        number = int(value.strip())
    else:
        number = None
    if number is None or not low <= number <= high:
        raise DeployError(
            f"{name} {value!r} must be a whole number from {low} to {high} ({meaning})"
        )
    return number


def check_keep(value, name: str = "--keep") -> int:
    return _whole_number(value, name, KEEP_RANGE, "releases kept on the Pi, current included")


def check_tolerance(value, name: str = "--selftest-tolerance") -> int:
    return _whole_number(value, name, TOLERANCE_RANGE, "int8 steps the Pi's self-test may differ")


def check_bwlimit(value, name: str = "--bwlimit") -> int:
    return _whole_number(value, name, BWLIMIT_RANGE, "KiB/s for the upload, 0 for no limit")


def check_python(value, name: str = "--python") -> str:
    if not isinstance(value, str) or not _PYTHON_RE.fullmatch(value):
        raise DeployError(
            f"{name} {value!r} must be a command or path on the Pi (letters, digits, "
            "'.', '_', '+', '-', '/'; not starting with '-')"
        )
    return value


def check_remote_dir(value, name: str = "--remote-dir") -> str:
    if not isinstance(value, str):
        raise DeployError(f"{name} {value!r} must be a folder name")
    try:
        return validate_remote_dir(value)
    except DeployError as exc:
        raise DeployError(f"{name}: {exc}") from None


def check_run_args_value(value, name: str = "--run-args") -> tuple:
    """A string as the command line gives it, or a list (a YAML inventory)."""
    try:
        if isinstance(value, str):
            return parse_run_args(value)
        if isinstance(value, (list, tuple)):
            check_run_args(value)
            return tuple(value)
    except DeployError as exc:
        raise DeployError(f"{name}: {exc}") from None
    raise DeployError(f"{name} {value!r} must be a string of plain words")


def check_service(value, name: str = "edgesign_service") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise DeployError(f"{name} {value!r} must be true or false")


def check_environment(value, name: str = "edgesign_environment") -> dict:
    if not isinstance(value, dict):
        raise DeployError(f"{name} {value!r} must be a mapping of variable names to values")
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.fullmatch(key):
            raise DeployError(f"{name}: {key!r} is not an environment variable name")
        if not isinstance(item, (str, int, float)) or "\n" in str(item) or "\0" in str(item):
            raise DeployError(f"{name}: the value of {key} must be one line of text")
    return value


def check_wheelhouse(path, name: str = "--wheelhouse") -> Path:
    """A folder holding wheels (checked before anything is built or contacted)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DeployError(f"{name} {folder}: no such folder (a folder of .whl files)")
    if not any(folder.glob("*.whl")):
        raise DeployError(f"{name} {folder} holds no .whl files")
    return folder


#: Inventory variable -> its check. The fleet playbook reads exactly these per Pi.
HOST_SETTINGS = {
    "edgesign_remote_dir": check_remote_dir,
    "edgesign_python": check_python,
    "edgesign_keep": check_keep,
    "edgesign_service": check_service,
    "edgesign_run_args": check_run_args_value,
    "edgesign_selftest_tolerance": check_tolerance,
    "edgesign_bwlimit": check_bwlimit,
    "edgesign_environment": check_environment,
}
#: Set once per run by `edgesign deploy/rollback --inventory` (extra variables) or the role.
RUN_SETTINGS = (
    "edgesign_bundle",
    "edgesign_wheelhouse",
    "edgesign_rollback_to",
    "edgesign_scripts",
)


#: Ansible's own variables a Pi's inventory entry may set: how ssh reaches it (the ssh arguments are
#: checked by the upload's own allowlist, deploy/fleet_tasks.target_from_inventory). Any other
#: `ansible_*` variable is refused: several make Ansible run a program on this computer before a
#: Pi answers (ansible_ssh_executable, ansible_ssh_args or ansible_scp_extra_args with a
#: ProxyCommand, ansible_ssh_pkcs11_provider, a local or paramiko connection, ...), dry runs too.
CONNECTION_VARIABLES = frozenset(
    {
        "ansible_host",
        "ansible_port",
        "ansible_user",
        "ansible_ssh_host",
        "ansible_ssh_port",
        "ansible_ssh_user",
        "ansible_ssh_private_key_file",
        "ansible_private_key_file",
        "ansible_ssh_common_args",
        "ansible_ssh_extra_args",
        "ansible_connection",
        # the Python Ansible starts on the Pi (not here): a plain absolute path, checked below
        "ansible_python_interpreter",
    }
)
#: ansible_connection values that mean ssh (Ansible's own client, as the upload uses)
SSH_CONNECTIONS = ("ssh", "ansible.builtin.ssh", "smart")


def check_connection_settings(host: str, variables: dict, where) -> None:
    """Refuse a Pi whose inventory entry sets an Ansible variable outside CONNECTION_VARIABLES,
    a connection other than ssh, or one of the settings `edgesign deploy` itself passes
    (RUN_SETTINGS: the scripts that run on the Pi, the wheels, the bundle)."""
    if not host.isprintable():  # Ansible prints host names as they are, escapes included
        raise DeployError(f"{where}: {printable(host)}: a Pi's name must be printable text")
    for key in sorted(variables):
        if key.startswith("ansible_") and key not in CONNECTION_VARIABLES:
            raise DeployError(
                f"{where}: {printable(host)}: {printable(key)} is not an inventory variable "
                "edgesign takes (some make Ansible run a program on this computer); a Pi's "
                "entry may set "
                f"{', '.join(sorted(CONNECTION_VARIABLES))} and edgesign_* settings"
            )
        if key in RUN_SETTINGS:
            raise DeployError(
                f"{where}: {printable(host)}: {key} is set by `edgesign deploy`/`rollback` for the "
                "whole run, never by an inventory; remove it"
            )
    interpreter = variables.get("ansible_python_interpreter", "/")
    if not (isinstance(interpreter, str) and re.fullmatch(r"/[\w./+-]*", interpreter)):
        raise DeployError(
            f"{where}: {printable(host)}: ansible_python_interpreter "
            f"{printable(str(interpreter))} is not an absolute path of the Pi's Python"
        )
    connection = variables.get("ansible_connection", "ssh")
    if connection not in SSH_CONNECTIONS:
        raise DeployError(
            f"{where}: {printable(host)}: ansible_connection {printable(str(connection))} is not "
            "ssh; edgesign reaches Pis over ssh only"
        )


def templated(value) -> bool:
    """Whether a value (or any string inside it) holds a Jinja template, which Ansible would render
    on this computer: `{{ lookup('pipe', ...) }}` runs a command here."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value or "{#" in value
    if isinstance(value, dict):
        return any(templated(k) or templated(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(templated(v) for v in value)
    return False


def check_no_templates(host: str, variables: dict, where) -> None:
    """Refuse a Pi whose inventory variables hold a Jinja template: edgesign reads an inventory as
    data, and a template is code (a lookup runs a command on this computer, before any check)."""
    for key, value in variables.items():
        if templated(key) or templated(value):
            raise DeployError(
                f"{where}: {host}: {key} holds a Jinja template ({{{{ ... }}}}); edgesign reads "
                "inventories as data (a template can run commands on this computer): write the "
                "value itself"
            )


def check_host_settings(host: str, variables: dict, skip=()) -> dict:
    """Check a Pi's edgesign_* variables (those in `skip` are overridden by the command line);
    returns them checked. An unknown edgesign_* name is refused: a typo would go unnoticed."""
    checked = {}
    for key, value in variables.items():
        if not key.startswith("edgesign_") or key in skip:
            continue
        if key in HOST_SETTINGS:
            checked[key] = HOST_SETTINGS[key](value, f"{host}: {key}")
        elif key not in RUN_SETTINGS:
            raise DeployError(
                f"{host}: {key} is not an edgesign setting (known: "
                f"{', '.join(sorted(HOST_SETTINGS))})"
            )
    return checked
