"""The `fswatch` command line (SPEC.md section 5): its grammar (parser), the commands that
act (commands) and `fswatch status` (show).

Every refusal is one line naming its alert, with a distinct exit code (fswatch.core.errors);
nothing is written before the whole input has been validated.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Sequence, Tuple

from fswatch.core.errors import EXIT_FAILED, FswatchError
from fswatch.core.settings import valid_id
from fswatch.host import logs
from fswatch.host.sinks import report_error, system_fault
from fswatch.kinds import KINDS, Kind


def command(name: str) -> Callable[..., int]:
    """The function of a command, its module imported only now: `fswatch run` (what the units
    start) never loads argparse, the other commands or `status` (a watch's memory, bench/RESULTS.md)."""
    if name == "status":
        from fswatch.surfaces.cli import show

        return show.cmd_status
    if name == "ctdb":
        from fswatch.surfaces import ctdb

        return ctdb.cmd_ctdb
    from fswatch.surfaces.cli import commands

    return getattr(commands, f"cmd_{name}")


def watch_to_run(argv: Sequence[str]) -> Optional[Tuple[str, str]]:
    """KIND and ID when the command line is exactly `run KIND ID` (the units' ExecStart), which
    the grammar would parse to just that; None for anything else, which the grammar parses."""
    if len(argv) == 3 and argv[0] == "run" and argv[1] in KINDS and not argv[2].startswith("-"):
        return argv[1], argv[2]
    return None


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
        run = watch_to_run(argv)
        if run is not None:
            from fswatch.watch.runner import run_configured

            watch_id = run[1]
            run_configured(*run)
        from fswatch.surfaces.cli.parser import build_parser

        args = build_parser().parse_args(argv)
        kind = KINDS.get(getattr(args, "kind", None) or "", kind)
        watch_id = getattr(args, "id", None)
        status = command(args.command)(args)
        sys.stdout.flush()  # a full disk under stdout is reported here, not as a traceback at exit
        return status
    except FswatchError as exc:
        return report_error(exc, kind, watch_id if watch_id and valid_id(watch_id) else None)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as exc:  # every system error is alert 42 and exit 5, whichever command met it
        return report_error(system_fault(exc), kind, watch_id if watch_id and valid_id(watch_id) else None)


if __name__ == "__main__":
    sys.exit(main())
