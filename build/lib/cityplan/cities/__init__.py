"""City profiles shipped with the package (``--city harbin``); see :mod:`cityplan.profile`."""
