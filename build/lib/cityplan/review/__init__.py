"""One-map planning review: a proposal against the unified plan's control lines and plans."""

from cityplan.review.check import ReviewReport, review_file, review_proposal
from cityplan.review.rules import Rule, load_rules

__all__ = ["ReviewReport", "Rule", "load_rules", "review_file", "review_proposal"]
