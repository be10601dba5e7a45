"""Pipelines built from the edgeopt components, and their compiled YAML."""
