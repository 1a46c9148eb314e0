"""The reports of §14 of the procedure: the figures the dashboard and the reports share
(`figures.py`), when a report is due (`schedule.py`), its text (`texts.py`), posting it once per
period to Slack and Monday through the outbox (`posting.py`, handlers in `delivery.py`), and the
record of what was posted (`models.py`)."""
