"""prune: zero the smallest weights of a Keras model (TF Model Optimization) and fine-tune it."""
