"""The ``hilserl`` command as a test starts it in a subprocess.

SIGINT is restored in the child as in a terminal's foreground job (a job started in the background,
as CI may be, passes it on ignored, and Python would then never raise KeyboardInterrupt). It is done
by the child's first line, not by ``preexec_fn``: Python code run between fork and exec in a process
that holds gRPC's threads (this one, after the in-process gRPC tests) can abort the child.
"""

import sys

FOREGROUND = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "from hilserl.cli import main; sys.exit(main())")


def hilserl_command(*args: str) -> list[str]:
    """The argv of ``hilserl ARGS...`` in the foreground."""
    return [sys.executable, "-c", FOREGROUND, *args]
