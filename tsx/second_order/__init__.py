"""tsx.second_order (filled in by its owner)."""

__all__: list[str] = []
