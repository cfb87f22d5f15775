"""The HTML report of a dedup run (``dedup --report``).

``render`` builds one self-contained page: each group with its representative
first and every member's scores, the files that could not be used, and the
"not a duplicate" marks a person can export.
"""

from imageprism.report.render import render_report, write_report

__all__ = ["render_report", "write_report"]
