"""Tickets: partner intake and follow-up, the state machine, and the sync with Zendesk."""
