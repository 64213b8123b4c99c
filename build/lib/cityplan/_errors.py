"""The cityplan exception hierarchy.

Every error a user can cause derives from :class:`CityplanError`. Messages name
the file / layer / row at fault, the bad value and the fix, so the CLI can show
them as one line without a traceback.
"""

from __future__ import annotations


class CityplanError(Exception):
    """Base class of every error cityplan raises for bad input or state."""

    #: process exit code the CLI uses for this error family
    exit_code: int = 2


class MissingCRSError(CityplanError):
    """A layer has no CRS and the user did not declare one."""


class CRSMismatchError(CityplanError):
    """A layer's CRS is not what was declared or expected (e.g. GCJ-02 passed as WGS84)."""


class OutsideChinaError(CRSMismatchError):
    """GCJ-02 / BD-09 transforms are only defined inside China."""


class LayerNotFoundError(CityplanError):
    """An unknown catalog layer id, file layer name or missing file."""


class DistrictNotFoundError(LayerNotFoundError):
    """A district name that is not in the one map (message lists the valid names)."""


class SchemaError(CityplanError):
    """Missing or malformed columns, catalog or register entries."""


class GeometryError(CityplanError):
    """Invalid, empty or wrong-typed geometries that cannot be used."""


class EncodingError(CityplanError):
    """Text attributes that were decoded with the wrong encoding."""


class OneMapError(CityplanError):
    """The one map cannot be opened: missing, damaged, not a cityplan map, server unreachable."""


class OutputExistsError(CityplanError):
    """An output exists and ``overwrite`` was not requested."""


class NetworkError(CityplanError):
    """The road network cannot answer the question (no usable edges, fragmented graph)."""


class CoverageError(CityplanError):
    """A coverage request that cannot be computed (empty facilities, no population, bad limit)."""


class ReviewError(CityplanError):
    """A proposal that cannot be reviewed (outside the one map, unknown facility type)."""


class TaskError(CityplanError):
    """Problems in the task register or the link between features and tasks."""


class DuplicateTaskIdError(TaskError):
    """The same task id appears more than once."""


class UnknownTaskIdError(TaskError):
    """A feature or reference names a task id that is not in the register."""


class UnitError(TaskError):
    """A target or quantity uses a unit outside the allowed set, or units disagree."""


__all__ = [
    "CRSMismatchError",
    "CityplanError",
    "CoverageError",
    "DistrictNotFoundError",
    "DuplicateTaskIdError",
    "EncodingError",
    "GeometryError",
    "LayerNotFoundError",
    "MissingCRSError",
    "NetworkError",
    "OneMapError",
    "OutputExistsError",
    "OutsideChinaError",
    "ReviewError",
    "SchemaError",
    "TaskError",
    "UnitError",
    "UnknownTaskIdError",
]
