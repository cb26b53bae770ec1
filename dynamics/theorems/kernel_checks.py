"""Checks for kernelised Barlow Twins (S §5, App. B)."""
