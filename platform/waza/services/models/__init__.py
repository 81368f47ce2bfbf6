"""Model repository: models, files, configs, hub search and downloads, built-in models."""
