"""The TF Serving runtime: its config files (models.config, monitoring.config) and container command."""
