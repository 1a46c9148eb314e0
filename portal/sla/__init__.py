"""First-response SLAs: the escalation matrix as data, the business calendar, deadlines, monitor."""
