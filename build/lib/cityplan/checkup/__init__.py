"""The annual city check-up (城市体检): coverage presets for many cities as Dask tasks."""
