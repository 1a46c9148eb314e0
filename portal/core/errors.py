"""Errors that services raise and routes turn into clear 4xx answers."""


class InvalidInput(ValueError):
    """Input a service refuses; `field` names the form field to show the message on."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
