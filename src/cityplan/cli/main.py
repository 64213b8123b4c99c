"""Entry point: ``cityplan [-v|-q] COMMAND``; user errors become one line and exit code 2."""

from __future__ import annotations

import logging
import sys

import click

from cityplan import __version__
from cityplan._errors import CityplanError
from cityplan.cli._common import err_console


class CityplanGroup(click.Group):
    """Click group that turns :class:`CityplanError` into a one-line message."""

    def invoke(self, ctx: click.Context) -> object:  # noqa: D102
        try:
            return super().invoke(ctx)
        except CityplanError as exc:
            err_console.print(f"[bold red]Error:[/] {exc}", markup=True, highlight=False,
                              soft_wrap=True)
            ctx.exit(exc.exit_code)


@click.group(cls=CityplanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(__version__, prog_name="cityplan")
def cli(verbose: int, quiet: bool) -> None:
    """cityplan - one map, task register, coverage and review for urban-project planning."""
    level = logging.WARNING if quiet or verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if not quiet and verbose == 0:
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr,
                        force=True)


def _register() -> None:
    from cityplan.cli import build, convert, coverage, layers, maps, report, review, run, tasks

    cli.add_command(build.build)
    cli.add_command(layers.layers)
    cli.add_command(convert.convert)
    cli.add_command(tasks.tasks)
    cli.add_command(tasks.progress)
    cli.add_command(maps.map_)
    cli.add_command(coverage.coverage)
    cli.add_command(review.review)
    cli.add_command(run.run)
    cli.add_command(report.report)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cityplan")
