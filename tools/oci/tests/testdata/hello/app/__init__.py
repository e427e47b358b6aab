"""A tiny app for the image builder tests."""
