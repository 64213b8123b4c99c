"""Pure operations on GeoDataFrames: no I/O, inputs never modified."""
