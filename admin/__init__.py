"""Staff screens: users and organizations, audit log, and later triage and metrics."""
