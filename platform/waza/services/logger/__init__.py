"""Logger: deployment and app logs listed, read, pattern-analysed and cleaned up."""
