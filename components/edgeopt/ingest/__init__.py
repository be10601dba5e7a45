"""ingest: bring a user's model and dataset into the pipeline as checked artifacts."""
