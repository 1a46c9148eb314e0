"""The ground floor: settings, extensions, web helpers, types, audit, errors, logs, i18n, text
cleaning, rate-limit keys and Markdown rendering. Imports no feature."""
