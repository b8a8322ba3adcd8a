"""The MNIST example: a Linen CNN trained with a tsx optimizer (see README.md)."""
