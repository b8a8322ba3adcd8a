"""Training configurations for the ImageNet example (pass one with --config=)."""
