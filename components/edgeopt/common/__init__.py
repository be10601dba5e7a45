"""Shared pieces every stage uses: errors, model bundles, datasets, runtimes, metrics."""
