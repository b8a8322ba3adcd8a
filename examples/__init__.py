"""Example programs that train models with tsx (run them from the repository root)."""
