"""The knowledge base: versioned articles, search and feedback."""
