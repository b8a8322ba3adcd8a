"""Training configurations for the MNIST example (pass one with --config=)."""
