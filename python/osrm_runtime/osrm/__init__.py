"""OSRM itself: layer-input statistics of the pretrained model, the orthogonal-subspace
initialisation of LoRA's A (both the paper's covariance variant and the authors' means variant),
the post-hoc transform of finished adapters, and the interference diagnostic."""
