"""The format boundary: reading and writing vector files, encodings, atomic writes."""

from cityplan.io.encoding import detect_mojibake
from cityplan.io.inspect import inspect_file
from cityplan.io.read import read_table, read_vector
from cityplan.io.write import atomic_path, write_table, write_vector

__all__ = [
    "atomic_path",
    "detect_mojibake",
    "inspect_file",
    "read_table",
    "read_vector",
    "write_table",
    "write_vector",
]
