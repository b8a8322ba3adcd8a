"""Short names for :mod:`tsx.tree_utils` (``tsx.tree.add`` is ``tree_add``)."""

from tsx import tree_utils as _tu

__all__ = sorted(
    name[len("tree_") :] for name in _tu.__all__ if name.startswith("tree_")
)


def __getattr__(name: str):
    if name in __all__:
        return getattr(_tu, "tree_" + name)
    raise AttributeError(f"module 'tsx.tree' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
