"""Checks for the neural tangent kernel module (theory.md §4, S App. D.5)."""
