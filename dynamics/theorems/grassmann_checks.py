"""Checks for orthogonality-constrained SSL and the Grassmannian flow (Esser et al., "E")."""
