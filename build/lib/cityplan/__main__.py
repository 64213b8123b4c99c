"""``python -m cityplan`` = the ``cityplan`` command."""

from cityplan.cli.main import main

main()
