"""Fleet deploy wall time against fleet size and Ansible forks, on loopback sshd "Pis".

For each (fleet size, forks): start that many fresh loopback sshd accounts (benchmarks/sshd.py),
write an INI inventory, time `edgesign deploy --inventory` (first rollout: upload, venv, offline
pip install, self-test and switch on every Pi), then time the rerun (idempotent: changes nothing).
All "Pis" share this machine's CPU cores, so parallel forks help only as far as the cores go;
on real Pis each one brings its own CPU and the per-Pi work runs truly in parallel.

    python benchmarks/bench_fleet.py --bundle artifacts/convert/bundle [--sizes 3,6] [--forks 1,6]

Needs root (throwaway accounts), sshd, rsync and ansible-core. Writes benchmarks/results/fleet.json;
cases accumulate across runs (keyed by size, forks and serial), so a long sweep can be split.
`--quick`: one Pi, one fork.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
from sshd import SshdUnavailable, start_loopback_server, stop_loopback_server


def inventory_text(servers) -> str:
    lines = ["[pis]"]
    for i, s in enumerate(servers, 1):
        lines.append(
            f"pi{i} ansible_host=127.0.0.1 ansible_port={s.port} ansible_user={s.user} "
            f"ansible_ssh_private_key_file={s.key} ansible_ssh_common_args='-o "
            f"UserKnownHostsFile={s.work / 'known_hosts'} -o StrictHostKeyChecking=yes'"
        )
    return "\n".join(lines) + "\n"


def timed_deploy(inventory: Path, bundle: Path, forks: int, serial: str, summary: Path) -> tuple:
    argv = [
        sys.executable,
        "-m",
        "edgesign.cli.main",
        "deploy",
        "--inventory",
        str(inventory),
        "--bundle",
        str(bundle),
        "--forks",
        str(forks),
        "--serial",
        serial,
        "--summary-json",
        str(summary),
    ]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"fleet deploy failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr}"
        )
    rows = json.loads(summary.read_text())
    return wall, rows


def run_case(size: int, forks: int, serial: str, bundle: Path) -> dict:
    servers = []
    try:
        for i in range(size):
            servers.append(start_loopback_server(f"edgesign-bench{i + 1}"))
        with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
            inventory = Path(tmp) / "fleet.ini"
            inventory.write_text(inventory_text(servers))
            first, rows = timed_deploy(inventory, bundle, forks, serial, Path(tmp) / "first.json")
            assert {r["action"] for r in rows} == {"switched"}, rows
            again, rows2 = timed_deploy(inventory, bundle, forks, serial, Path(tmp) / "again.json")
            assert {r["action"] for r in rows2} == {"up to date"}, rows2
        per_pi = [float(r["seconds"]) for r in rows]
        return {
            "fleet_size": size,
            "forks": forks,
            "serial": serial,
            "first_rollout_s": round(first, 1),
            "rerun_s": round(again, 1),
            "per_pi_task_time_mean_s": round(sum(per_pi) / len(per_pi), 1),
        }
    finally:
        for server in servers:
            stop_loopback_server(server)


def main(argv=None) -> int:
    p = harness.parser(__file__, __doc__, bundle="artifacts/convert/bundle")
    p.add_argument("--sizes", default="3,6", help="fleet sizes (default %(default)s)")
    p.add_argument("--forks", default="1,6", help="forks to try (capped at the fleet size)")
    p.add_argument(
        "--serial", default="1,100%", help="rollout batches (default: a canary, then the rest)"
    )
    args = harness.parse(p, argv)
    if args.quick:
        args.sizes, args.forks = "1", "1"
    bundle = Path(args.bundle).resolve()
    # Wheels of its own: other checkouts refill the shared cache when their requirements differ.
    from edgesign.deploy.wheelhouse import cache_root

    os.environ.setdefault("EDGESIGN_CACHE", str(cache_root() / "fleet-bench"))
    old = harness.load("fleet", args) or {}
    old = old.get("results", old)  # records before the harness kept the cases at the top
    cases = {(c["fleet_size"], c["forks"], c["serial"]): c for c in old.get("cases", [])}
    for size in (int(s) for s in args.sizes.split(",")):
        for forks in sorted({min(int(f), size) for f in args.forks.split(",")}):
            print(f"fleet of {size}, forks {forks} ...", flush=True)
            try:
                case = run_case(size, forks, args.serial, bundle)
            except SshdUnavailable as exc:
                raise SystemExit(f"bench_fleet: {exc}") from None
            cases[(size, forks, args.serial)] = case
            print(f"  {case}", flush=True)
            harness.save(
                "fleet",
                {
                    "what": "fleet deploy through Ansible to loopback sshd Pis",
                    "load_average_1min_at_end": round(os.getloadavg()[0], 1),
                    "note": "all Pis share this machine's CPUs; other jobs' load inflates times",
                    "cases": [cases[k] for k in sorted(cases)],
                },
                args,
            )
    print(
        "\n| Pis | forks | serial | first rollout (s) | rerun, nothing to do (s) "
        "| per-Pi task time (s) |"
    )
    print("|---:|---:|---|---:|---:|---:|")
    for c in (cases[k] for k in sorted(cases)):
        print(
            f"| {c['fleet_size']} | {c['forks']} | {c['serial']} | {c['first_rollout_s']} "
            f"| {c['rerun_s']} | {c['per_pi_task_time_mean_s']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
