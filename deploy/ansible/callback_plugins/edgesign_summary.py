"""Ansible callback: one line per Pi at the end of an edgesign fleet run.

Per Pi: the release that is current now, the self-test verdict, what happened (switched, kept,
up to date, not reached, rolled back, ...) and the time its own tasks took. Pis the rollout
never reached (a failed batch stopped it) are listed too, from the probe. The same rows go to
the JSON file named by $EDGESIGN_FLEET_SUMMARY, if set (the tests and the benchmark read it).
"""

from __future__ import annotations

import json
import os
import tempfile

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: edgesign_summary
    type: aggregate
    short_description: per-Pi summary of an edgesign fleet deploy or rollback
    description:
      - Prints release, self-test, action and time per host after the play recap.
    requirements:
      - enabled in ansible.cfg (callbacks_enabled = edgesign_summary)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "edgesign_summary"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.rows = {}  # host -> row, in the order hosts were first seen

    def _row(self, result) -> dict:
        host = result._host.get_name()
        return self.rows.setdefault(
            host,
            {
                "host": host,
                "release": "",
                "selftest": "-",
                "action": "not reached",
                "seconds": None,
                "message": "",
            },
        )

    def v2_runner_on_ok(self, result):
        facts = result._result.get("ansible_facts") or {}
        row = self._row(result)
        if "edgesign_probe" in facts:
            row["release"] = facts["edgesign_probe"].get("current", "") or ""
        if "edgesign_result" in facts:
            row.update({k: v for k, v in facts["edgesign_result"].items() if v is not None})

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        row = self._row(result)
        message = result._result.get("stderr", "") or result._result.get("msg", "") or "failed"
        row["message"] = row.get("message") or str(message).strip().splitlines()[-1]
        if row["action"] == "not reached":
            row["action"] = "failed"

    def v2_runner_on_unreachable(self, result):
        row = self._row(result)
        row["action"] = "unreachable"
        lines = str(result._result.get("msg", "")).strip().splitlines()
        row["message"] = lines[-1] if lines else "unreachable"

    def v2_playbook_on_stats(self, stats):
        rows = sorted(self.rows.values(), key=lambda r: r["host"])
        if not rows:
            return
        width = max([4] + [len(r["host"]) for r in rows])
        rel = max([7] + [len(str(r["release"] or "-")) for r in rows])
        self._display.display("\nEDGESIGN FLEET SUMMARY " + "*" * 56)
        self._display.display(
            f"{'host':<{width}}  {'release':<{rel}}  selftest  {'action':<13}  time"
        )
        for r in rows:
            seconds = r.get("seconds")
            took = f"{float(seconds):.1f} s" if seconds not in (None, "") else "-"
            line = (
                f"{r['host']:<{width}}  {str(r['release'] or '-'):<{rel}}  "
                f"{str(r['selftest'] or '-'):<8}  {r['action']:<13}  {took}"
            )
            if r.get("message"):
                line += f"  ({r['message']})"
            self._display.display(line)
        path = os.environ.get("EDGESIGN_FLEET_SUMMARY")
        if path:
            # a fresh temporary name: PATH.tmp could be a file of the user's
            fd, tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.",
                suffix=".partial",
                dir=os.path.dirname(path) or ".",
            )
            try:
                with os.fdopen(fd, "w") as f:
                    json.dump(rows, f, indent=2)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
