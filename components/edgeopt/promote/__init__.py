"""promote: publish a model that passed the gate as a new, immutable model-registry entry."""
