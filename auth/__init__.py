"""Organizations, users, roles, login and permissions."""
