"""Staff screens of the procedure, one module per screen on one blueprint (`bp`): the queues
(triage with bulk assignment, my work, level 3), the ticket workspace and its actions, and the
metrics dashboard with the CSV exports (its figures and the ticket audit)."""

from admin.workflow import kb_followup, queues, reports, unmatched, workspace  # noqa: F401 (each adds its routes to bp)
from admin.workflow.blueprint import bp

__all__ = ["bp"]
