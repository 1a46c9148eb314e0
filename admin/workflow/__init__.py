"""Staff screens of the procedure: triage, my work, the ticket workspace, level 3, ticket audit."""
