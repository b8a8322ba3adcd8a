"""tsx exposes every public name of Optax, namespace by namespace.

Optax's names are listed at run time, so a name Optax has and tsx lacks fails
here. Module objects Optax re-exports by accident (``functools``, ``typing``
in ``optax.tree_utils``) are not API and are left out.
"""

import importlib
import inspect
import types

import pytest

import tsx

NAMESPACES = [
    "",
    "losses",
    "schedules",
    "transforms",
    "tree_utils",
    "tree",
    "contrib",
    "projections",
    "assignment",
    "perturbations",
    "second_order",
    "microbatching",
    "experimental",
]

# Standard-library modules imported inside Optax's namespaces, not Optax API.
STDLIB_MODULES = {"functools", "typing"}


def _public_names(module):
    names = set()
    for name in dir(module):
        if name.startswith("_") or name in STDLIB_MODULES:
            continue
        names.add(name)
    return names


@pytest.mark.parametrize("namespace", NAMESPACES, ids=lambda n: n or "top-level")
def test_every_optax_name_is_in_tsx(namespace):
    theirs = importlib.import_module("optax" + (f".{namespace}" if namespace else ""))
    ours = importlib.import_module("tsx" + (f".{namespace}" if namespace else ""))
    missing = sorted(n for n in _public_names(theirs) if not hasattr(ours, n))
    assert not missing, f"tsx.{namespace or ''} lacks {missing}"


@pytest.mark.parametrize("namespace", ["", "contrib", "schedules", "transforms"])
def test_callables_accept_optax_keywords(namespace):
    """Every public function of Optax's namespace takes the same parameter names."""
    theirs = importlib.import_module("optax" + (f".{namespace}" if namespace else ""))
    ours = importlib.import_module("tsx" + (f".{namespace}" if namespace else ""))
    mismatched = []
    for name in sorted(_public_names(theirs)):
        a, b = getattr(theirs, name), getattr(ours, name, None)
        if not inspect.isfunction(a) or b is None or isinstance(b, types.ModuleType):
            continue
        try:
            pa = inspect.signature(a).parameters
            pb = inspect.signature(b).parameters
        except (TypeError, ValueError):
            continue
        missing = [p for p in pa if p not in pb and pa[p].kind != pa[p].VAR_KEYWORD]
        if missing:
            mismatched.append((name, missing))
    assert not mismatched, mismatched


def test_import_tsx_as_optax_runs_user_code():
    import tsx as optax_alias

    params = {"w": optax_alias.tree_utils.tree_ones_like({"a": 1.0})["a"]}
    opt = optax_alias.chain(
        optax_alias.clip_by_global_norm(1.0), optax_alias.adam(1e-3)
    )
    state = opt.init(params)
    updates, state = opt.update(
        {"w": optax_alias.tree_utils.tree_full_like(1.0, 0.5)}, state, params
    )
    new = optax_alias.apply_updates(params, updates)
    assert float(new["w"]) == pytest.approx(1.0 - 1e-3, rel=1e-5)
    assert tsx.__version__


def test_tree_sum_matches_optax_in_both_reduction_orders():
    import jax.numpy as jnp
    import optax

    tree = {"a": jnp.arange(3.0), "b": [jnp.ones((2, 2)), jnp.array(2.0)]}
    for assoc in (False, True):
        ours = tsx.tree_utils.tree_sum(tree, associative_reduction=assoc)
        assert float(ours) == float(optax.tree_utils.tree_sum(tree, assoc)) == 9.0
