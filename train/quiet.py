"""TensorFlow without its start-up chatter.

Importing TensorFlow 2.21 writes absl, oneDNN and CPU-feature lines straight to file descriptor 2
(TF_CPP_MIN_LOG_LEVEL no longer hides the ones logged before absl starts), which buries our own
output. `import_tensorflow` imports it with descriptor 2 sent to a temporary file, and shows that
file only when the import fails; `--debug` imports it in the open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings

#: set by `import_tensorflow`: the converter's C++ lines are shown too
_debug = False


@contextlib.contextmanager
def quiet_stderr():
    """Send file descriptor 2 (C++ code's stderr too) to a temporary file while the block runs;
    show what it caught only if the block fails, or always with --debug."""
    if _debug:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as chatter:
        os.dup2(chatter.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            chatter.seek(0)
            sys.stderr.write(chatter.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow(debug: bool = False) -> None:
    """Import TensorFlow (and Keras) once, quietly unless `debug`."""
    global _debug
    _debug = debug
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if debug else "2")
    if not debug:
        # "Assets written to", and the converter's warning about input statistics it does not need
        logging.getLogger("tensorflow").setLevel(logging.WARNING)
        logging.getLogger("absl").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", category=UserWarning, module="tensorflow")
    if "tensorflow" in sys.modules:
        return
    with quiet_stderr():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
