"""Entry point: ``cityplan [-v|-q] COMMAND``.

Exit codes (``docs/errors.md``): 0 success, 1 findings / validation errors, 2 user error (one line
naming the file or option, the bad value and the fix; also click usage errors and user-fixable
OS errors such as permission denied or disk full), 3 internal error (one line pointing to a log
file with the traceback), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import click
from rich.markup import escape

from cityplan import __version__
from cityplan._errors import CityplanError
from cityplan.cli._common import QUIET, err_console

EXIT_USER, EXIT_INTERNAL, EXIT_INTERRUPTED = 2, 3, 130
_STATE = {"verbose": 0}


class Terminated(BaseException):  # noqa: N818 - a signal, not an error
    """Raised by the SIGTERM/SIGHUP handler so every ``finally`` (temp-file cleanup) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` (main thread only)."""
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                signal.signal(sig, _on_signal)
            except ValueError:  # not the main thread (e.g. embedded)
                return


def log_path() -> Path:
    """``$XDG_STATE_HOME/cityplan/cityplan.log`` (``~/.local/state``), else the temp folder."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    for folder in (Path(state) / "cityplan", Path(tempfile.gettempdir())):
        name = "cityplan.log" if folder.name == "cityplan" else f"cityplan-{os.getuid() if hasattr(os, 'getuid') else 'user'}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            with open(path, "a", encoding="utf-8"):
                pass
        except OSError:
            continue
        return path
    return Path(tempfile.gettempdir()) / "cityplan.log"


def _log_internal(exc: BaseException) -> Path | None:
    """Append the traceback of ``exc`` with time, version and command line to the log file."""
    path = log_path()
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {dt.datetime.now().isoformat(timespec='seconds')} cityplan {__version__} "
                    f"pid {os.getpid()}: {' '.join(sys.argv)}\n{text}\n")
    except OSError:
        return None
    return path


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(text: str) -> None:
    # the message is data (file names, values, `roles: [x]` hints): never rich markup
    err_console.print(f"[bold red]Error:[/] {escape(text)}", markup=True, highlight=False, soft_wrap=True)


class CityplanGroup(click.Group):
    """Click group that turns every failure into one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> object:  # noqa: D102
        from cityplan.io.write import user_oserror_message

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except CityplanError as exc:
            _error(_one_line(str(exc)))
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            ctx.exit(EXIT_INTERRUPTED)
        except Terminated as exc:
            err_console.print(f"terminated by signal {exc.signum}", highlight=False)
            ctx.exit(128 + exc.signum)
        except Exception as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # click handles a closed stdout pipe quietly
            line = user_oserror_message(exc) if isinstance(exc, OSError) else None
            if line is not None:
                _error(_one_line(line))
                ctx.exit(EXIT_USER)
            path = _log_internal(exc)
            if _STATE["verbose"]:
                err_console.print("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                                  markup=False, highlight=False)
            where = f"details in {path}" if path else "no log file could be written; rerun with -v"
            err_console.print(_one_line(f"internal error: {type(exc).__name__}: {exc} ({where})"),
                              markup=False, highlight=False, soft_wrap=True)
            ctx.exit(EXIT_INTERNAL)


@click.group(cls=CityplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors: no notes, progress bars or log warnings.")
@click.version_option(__version__, prog_name="cityplan")
def cli(verbose: int, quiet: bool) -> None:
    """cityplan - one map, task register, coverage and review for urban-project planning.

    Data goes to stdout, messages to stderr. Exit codes: 0 ok, 1 findings, 2 user error,
    3 internal error (traceback in a log file), 130 interrupted.
    """
    install_signal_handlers()
    _STATE["verbose"] = 0 if quiet else verbose
    QUIET["on"] = quiet
    level = (logging.ERROR if quiet else logging.WARNING if verbose == 0 else
             logging.INFO if verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr,
                        force=True)


def _register() -> None:
    from cityplan.cli import (
        build,
        checkup,
        city,
        convert,
        coverage,
        diff,
        export,
        layers,
        maps,
        monitor,
        progress,
        report,
        review,
        run,
        tasks,
    )

    cli.add_command(build.build)
    cli.add_command(layers.layers)
    cli.add_command(convert.convert)
    cli.add_command(tasks.tasks)
    cli.add_command(progress.progress)
    cli.add_command(maps.map_)
    cli.add_command(coverage.coverage)
    cli.add_command(review.review)
    cli.add_command(run.run)
    cli.add_command(report.report)
    cli.add_command(city.city)
    cli.add_command(export.export)
    cli.add_command(checkup.checkup)
    cli.add_command(monitor.monitor)
    cli.add_command(diff.diff)
    from cityplan.cli import serve, users

    cli.add_command(serve.serve)
    cli.add_command(users.users)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cityplan")
