"""E-mails to people about their own account (password reset, invitation) and the pages their links open."""
