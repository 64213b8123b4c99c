"""Use cases shared by the CLI and the web server: one place for each.

The web's desks (:mod:`cityplan.server`) and the click commands (:mod:`cityplan.cli`) parse their
input, check who asks, call a service here and present its answer; nothing here knows a web
framework or click.

- :mod:`cityplan.services.reviews`: submit a review, store it in the one map (``cityplan_reviews``),
  list, get / reopen it, and the 审查意见 PDF from the stored report.
- :mod:`cityplan.services.review_pool`: reviews off the caller's thread (worker processes with the
  one map open).
- :mod:`cityplan.services.progress`: import a district's progress workbook under the ownership
  rule; a site's status change recorded as an event.
- :mod:`cityplan.services.coverage`: every coverage preset's answer, computed once per build.
"""
