"""Linear-algebra helpers Optax exports at top level."""

__all__: list[str] = []
