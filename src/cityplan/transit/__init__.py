"""Transit by timetable: GTFS feeds (or lines generated from stops, headway and speed) searched
minute by minute over the walk network (docs/transit.md).

gtfs (read and validate a feed) -> feedgen / scenarios (generated and planned lines, routes,
stops and sections left out) -> settings (the profile's transit.yaml -> the networks of a run)
-> access (walks on the walk network, :func:`~cityplan.transit.access.feed_search`) -> engine
(the time-expanded search and every departure minute).
"""
