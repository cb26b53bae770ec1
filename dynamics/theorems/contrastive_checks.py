"""Checks for wide contrastive networks: NTK under dot product vs cosine, and PCA (Anil et al., "A")."""
