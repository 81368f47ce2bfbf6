"""Prompts: roles, systems, elements and templates (digest §13)."""
