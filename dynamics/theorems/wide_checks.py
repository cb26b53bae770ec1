"""Checks for wide two-layer networks under Barlow Twins (S §6 / App. D.1, Fleissner et al.)."""
