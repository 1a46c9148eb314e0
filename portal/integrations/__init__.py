"""Talking to Zendesk, Monday and Slack through a transactional outbox."""
