"""The `fswatch` command line (SPEC.md section 5): its grammar (parser), the commands that
act (commands) and `fswatch status` (show).

Every refusal is one line naming its alert, with a distinct exit code (fswatch.core.errors);
nothing is written before the whole input has been validated.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from fswatch.core.errors import EXIT_FAILED, FswatchError
from fswatch.host import logs
from fswatch.host.sinks import report_error, system_fault
from fswatch.kinds import KINDS, Kind
from fswatch.surfaces import ctdb
from fswatch.surfaces.cli import commands, show
from fswatch.surfaces.cli.parser import build_parser

COMMANDS = {
    "probe": commands.cmd_probe,
    "add": commands.cmd_add,
    "remove": commands.cmd_remove,
    "run": commands.cmd_run,
    "pause": commands.cmd_pause,
    "continue": commands.cmd_continue,
    "inject": commands.cmd_inject,
    "start": commands.cmd_start,
    "stop": commands.cmd_stop,
    "reset": commands.cmd_reset,
    "status": show.cmd_status,
    "metrics": commands.cmd_metrics,
    "ctdb": ctdb.cmd_ctdb,
}


def _kind_in(argv: Sequence[str]) -> Kind:
    """The kind a command line names (for the words of an alert about it); the first kind
    when it names none."""
    named = [KINDS[a] for a in argv[:3] if a in KINDS]
    return named[0] if named else next(iter(KINDS.values()))


def main(argv: Optional[Sequence[str]] = None) -> int:
    logs.configure()
    argv = list(sys.argv[1:] if argv is None else argv)
    kind = _kind_in(argv)
    watch_id = None
    try:
        args = build_parser().parse_args(argv)
        kind = KINDS.get(getattr(args, "kind", None) or "", kind)
        watch_id = getattr(args, "id", None)
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # a full disk under stdout is reported here, not as a traceback at exit
        return status
    except FswatchError as exc:
        return report_error(exc, kind, watch_id if watch_id and show.valid_id(watch_id) else None)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # every system error is alert 42 and exit 5, whichever command met it
        return report_error(system_fault(exc), kind, watch_id if watch_id and show.valid_id(watch_id) else None)


if __name__ == "__main__":
    sys.exit(main())
