"""The ``cityplan`` command line: thin click commands over the library."""
