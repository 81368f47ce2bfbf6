"""Activity: the audit log of every mutating API call."""
