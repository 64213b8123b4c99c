"""Public access to the exception hierarchy (see :mod:`cityplan._errors`)."""

from cityplan._errors import *  # noqa: F403
from cityplan._errors import __all__  # noqa: F401
