"""``python -m wheelaudit``.

Ctrl-C while the command line itself is still loading, or on the way into ``run``, gets the
same one line and exit status 130 as later on. The ``__name__`` guard keeps worker
processes started by ``spawn`` or ``forkserver`` from running the command again.
"""

import os
import sys

if __name__ == "__main__":
    try:
        from .cli.main import keep_interrupts, run

        keep_interrupts()

        run()  # never returns: it leaves through os._exit with the status
    except KeyboardInterrupt:
        sys.stderr.write("wheelaudit: interrupted\n")
        sys.stderr.flush()
        os._exit(130)  # like cli.leave_interrupted, which may be the module that did not load
