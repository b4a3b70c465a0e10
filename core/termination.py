"""Whether SIGTERM (or Ctrl-C) was asked for, remembered even where the interrupt was swallowed.

Python runs a signal handler between bytecodes of the main thread. When that is inside a weakref
callback or a `__del__` (TensorFlow runs many during evaluation), the exception the handler raises
is printed as "Exception ignored" and dropped, and the command would finish with exit 0 as if never
stopped. The handler therefore also sets `requested`; publishing an output checks it
(`raise_if_requested`) and the CLI turns it into the exit code of a stop.
"""

from __future__ import annotations

import threading

requested = threading.Event()


def raise_if_requested() -> None:
    """KeyboardInterrupt if a stop was asked for earlier (and maybe swallowed)."""
    if requested.is_set():
        raise KeyboardInterrupt
