"""Release ids on the Pi: `YYYYmmddTHHMMSSmmmZ-<10 hex>`, made here and recognised exactly.

The remote scripts treat only folders under `releases/` whose names match this pattern as
releases: anything else there (a user's `junk`, a name with spaces, a symlink) is never listed,
never switched to and never pruned. Each script spells the pattern as the shell glob
RELEASE_ID_GLOB (tests/test_deploy_checks.py checks that they all agree with this module).
"""

from __future__ import annotations

import re
import time

DIGEST_CHARS = 10
RELEASE_ID_RE = re.compile(rf"[0-9]{{8}}T[0-9]{{9}}Z-[0-9a-f]{{{DIGEST_CHARS}}}")
RELEASE_ID_GLOB = "[0-9]" * 8 + "T" + "[0-9]" * 9 + "Z-" + "[0-9a-f]" * DIGEST_CHARS


def release_id(digest: str, now: float | None = None) -> str:
    """`YYYYmmddTHHMMSSmmmZ-<hash>`: sorts by time, names the content."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}Z"
    return f"{stamp}-{digest}"


def is_release_id(text: str) -> bool:
    return bool(RELEASE_ID_RE.fullmatch(text or ""))
