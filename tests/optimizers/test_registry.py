"""tsx.optimizers.get / available / build: names, errors, configs."""

import inspect

import jax.numpy as jnp
import ml_collections
import optax
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params


def test_available_is_sorted_and_has_top_level_and_contrib_names():
    names = tsx.optimizers.available()
    assert names == sorted(names)
    for name in ["adam", "adamw", "sgd", "lbfgs", "polyak_sgd", "yogi", "sm3"]:
        assert name in names
    assert "contrib.muon" in names
    # Building blocks, wrappers and non-optimizers are not listed.
    for name in [
        "scale_by_adam",
        "chain",
        "contrib.schedule_free",
        "inject_hyperparams",
    ]:
        assert name not in names


def test_every_optax_alias_tsx_has_is_available():
    # Optax's optimizer aliases (alias.py) that tsx implements are all found.
    from optax._src import alias

    aliases = {
        n
        for n, f in vars(alias).items()
        if inspect.isfunction(f) and f.__module__ == alias.__name__ and n[0] != "_"
    }
    aliases |= {"nadam", "nadamw"}
    present = {n for n in aliases if hasattr(tsx, n)}
    assert present
    assert present <= set(tsx.optimizers.available())


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_every_available_name_builds_a_transformation():
    for name in tsx.optimizers.available():
        factory = tsx.optimizers.registry()[name].factory
        required = [
            p.name
            for p in inspect.signature(factory).parameters.values()
            if p.default is p.empty and p.kind is not p.VAR_KEYWORD
        ]
        if set(required) - {"learning_rate"}:
            continue  # e.g. dpsgd needs clipping and noise settings
        kwargs = {"learning_rate": 0.1} if required else {}
        tx = tsx.optimizers.get(name, **kwargs)
        assert callable(tx.init) and callable(tx.update), name


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("adamw", dict(learning_rate=1e-2, weight_decay=0.1, b1=0.8)),
        ("sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
        ("yogi", dict(learning_rate=1e-2)),
    ],
)
def test_get_builds_the_same_optimizer_as_optax(name, kwargs):
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.get(name, **kwargs)
            if lib is tsx
            else getattr(optax, name)(**kwargs)
        )
    )


def test_contrib_names_with_and_without_prefix():
    a = tsx.optimizers.get("contrib.muon", learning_rate=0.02)
    b = tsx.optimizers.get("muon", learning_rate=0.02)
    params = {"w": jnp.ones((3, 4))}
    assert type(a.init(params)) is type(b.init(params))


def test_names_are_case_and_dash_insensitive():
    tx = tsx.optimizers.get(" AdamW ", learning_rate=1e-3)
    state = tx.init(nested_params())
    assert isinstance(state[0], tsx.ScaleByAdamState)
    tsx.optimizers.get("optimistic-gradient-descent", learning_rate=0.1)


def test_ml_collections_config():
    config = ml_collections.ConfigDict()
    config.optimizer = "adamw"
    config.optimizer_kwargs = {"learning_rate": 1e-3, "weight_decay": 1e-2}
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.get(config.optimizer, **config.optimizer_kwargs)
            if lib is tsx
            else optax.adamw(1e-3, weight_decay=1e-2)
        )
    )


def test_typo_lists_close_names():
    with pytest.raises(ValueError, match="'adamw'") as err:
        tsx.optimizers.get("adamww", learning_rate=1e-3)
    assert "available()" in str(err.value)
    with pytest.raises(ValueError, match="muon"):
        tsx.optimizers.get("muonn", learning_rate=1e-3)


def test_wrong_keyword_lists_accepted_arguments():
    with pytest.raises(TypeError, match="weight_decay") as err:
        tsx.optimizers.get("adamw", learning_rate=1e-3, weight_decy=0.1)
    message = str(err.value)
    assert "weight_decy" in message and "b1=0.9" in message
    # Also a ValueError, so config loaders can catch either.
    with pytest.raises(ValueError, match="lr"):
        tsx.optimizers.get("sgd", lr=0.1)


def test_missing_learning_rate_is_reported():
    with pytest.raises(TypeError, match="learning_rate"):
        tsx.optimizers.get("adam")


def test_bad_value_raises_the_optimizers_error():
    with pytest.raises(ValueError, match="b1"):
        tsx.optimizers.get("adam", learning_rate=1e-3, b1=2.0)


def test_not_exported_at_top_level():
    assert not hasattr(tsx, "get")
    assert not hasattr(tsx, "available")


def test_registry_is_an_explicit_table_built_once():
    assert tsx.optimizers.registry() is tsx.optimizers.registry()
    entry = tsx.optimizers.registry()["adamw"]
    assert entry.factory is tsx.adamw
    assert (entry.weight_decay, entry.weight_decay_mask) == ("weight_decay", "mask")
    assert tsx.optimizers.registry()["sgd"].weight_decay is None


def test_every_decay_argument_in_the_table_is_a_parameter_of_its_factory():
    for name, entry in tsx.optimizers.registry().items():
        params = inspect.signature(entry.factory).parameters
        for arg in (entry.weight_decay, entry.weight_decay_mask):
            assert arg is None or arg in params, (name, arg)


def _decay_mask(params):
    return tsx.masks.decay_mask(params)


def test_build_decoupled_decay_is_the_optimizers_own_argument():
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.build(
                "adamw",
                learning_rate=1e-3,
                b1=0.8,
                weight_decay=0.1,
                weight_decay_mask=_decay_mask,
            )
            if lib is tsx
            else optax.adamw(1e-3, b1=0.8, weight_decay=0.1, mask=_decay_mask)
        )
    )


def test_build_l2_decay_is_added_to_the_gradient_before_the_optimizer():
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.build(
                "sgd",
                learning_rate=0.1,
                momentum=0.9,
                weight_decay=5e-4,
                weight_decay_mode="l2",
                weight_decay_mask=_decay_mask,
            )
            if lib is tsx
            else optax.chain(
                optax.add_decayed_weights(5e-4, _decay_mask),
                optax.sgd(0.1, momentum=0.9),
            )
        )
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("adamw", lambda: optax.adamw(1e-2, weight_decay=0.1, mask=_decay_mask)),
        (
            "sgd",
            lambda: optax.chain(
                optax.add_decayed_weights(0.1, _decay_mask), optax.sgd(1e-2)
            ),
        ),
    ],
)
def test_build_auto_decay_is_decoupled_where_the_optimizer_has_it(name, expected):
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.build(
                name,
                learning_rate=1e-2,
                weight_decay=0.1,
                weight_decay_mode="auto",
                weight_decay_mask=_decay_mask,
            )
            if lib is tsx
            else expected()
        )
    )


def test_build_without_decay_keeps_the_optimizers_default():
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.build("adamw", learning_rate=1e-3)
            if lib is tsx
            else optax.adamw(1e-3)
        )
    )


def test_build_refuses_decoupled_decay_where_there_is_none():
    with pytest.raises(ValueError, match="sgd has no decoupled weight decay.*'l2'"):
        tsx.optimizers.build("sgd", learning_rate=0.1, weight_decay=1e-4)


def test_build_refuses_decay_given_twice_and_a_mask_without_decay():
    with pytest.raises(ValueError, match="set twice"):
        tsx.optimizers.build(
            "adamw", learning_rate=1e-3, weight_decay=0.1, mask=_decay_mask
        )
    with pytest.raises(ValueError, match="weight_decay_mask needs weight_decay"):
        tsx.optimizers.build("adamw", learning_rate=1e-3, weight_decay_mask=_decay_mask)
    with pytest.raises(ValueError, match="weight_decay_mode"):
        tsx.optimizers.build(
            "adamw", learning_rate=1e-3, weight_decay=0.1, weight_decay_mode="L2"
        )


def test_build_refuses_a_mask_for_a_decay_that_takes_none():
    with pytest.raises(ValueError, match="takes no mask"):
        tsx.optimizers.build(
            "novograd",
            learning_rate=1e-3,
            weight_decay=0.1,
            weight_decay_mask=_decay_mask,
        )


@pytest.mark.parametrize("bits", [16, 8, 4])
def test_build_state_bits_stores_the_state_compressed(bits):
    # w is above quantized_state's default min_size (4096 elements), b below.
    params = {"w": jnp.ones((64, 128)), "b": jnp.zeros(8)}
    tx = tsx.optimizers.build("adamw", learning_rate=1e-3, state_bits=bits)
    state = tx.init(params)
    assert isinstance(state, tsx.lowbit.LowBitState)
    # The first update starts from a zero state, exact in every code: Optax's.
    updates, _ = tx.update(params, state, params)
    expected, _ = optax.adamw(1e-3).update(
        params, optax.adamw(1e-3).init(params), params
    )
    for a, b in zip(updates.values(), expected.values(), strict=True):
        assert jnp.allclose(a, b, rtol=1e-6)
    assert tsx.lowbit.state_bytes(state) < tsx.lowbit.state_bytes(
        tsx.adamw(1e-3).init(params)
    )


@pytest.mark.parametrize("bits", [0, 2, 12, 64, True, "8"])
def test_build_refuses_other_state_bits(bits):
    with pytest.raises(ValueError, match=f"state_bits={bits!r}"):
        tsx.optimizers.build("adamw", learning_rate=1e-3, state_bits=bits)


REGISTER_SCRIPT = """
import json
import jax.numpy as jnp
import tsx

def my_adamw(learning_rate, decay=0.0, decay_mask=None):
    return tsx.adamw(learning_rate, weight_decay=decay, mask=decay_mask)

tsx.optimizers.register("my_adamw", my_adamw, weight_decay="decay",
                        weight_decay_mask="decay_mask")
params = {"w": jnp.ones(3), "b": jnp.ones(3)}
grads = {"w": jnp.full(3, 0.5), "b": jnp.full(3, 0.5)}
mask = {"w": True, "b": False}
ours = tsx.optimizers.build("my_adamw", learning_rate=0.1, weight_decay=0.5,
                            weight_decay_mask=mask)
ref = tsx.adamw(0.1, weight_decay=0.5, mask=mask)
u, _ = ours.update(grads, ours.init(params), params)
v, _ = ref.update(grads, ref.init(params), params)
errors = []
for name, factory, kwargs in (("My-AdamW", my_adamw, {}),
                              ("x", my_adamw, {"weight_decay": "nope"}),
                              ("x", 3, {})):
    try:
        tsx.optimizers.register(name, factory, **kwargs)
    except (TypeError, ValueError) as e:
        errors.append(type(e).__name__ + ": " + str(e))
print(json.dumps({
    "same": bool(all((u[k] == v[k]).all() for k in u)),
    "available": "my_adamw" in tsx.optimizers.available(),
    "errors": errors,
}))
"""


def test_register_adds_a_users_optimizer_to_get_and_build():
    import json
    import subprocess
    import sys

    # A fresh process: a registration lasts for the process.
    proc = subprocess.run(
        [sys.executable, "-c", REGISTER_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["same"] and out["available"]
    assert out["errors"][0].startswith("ValueError: register: name must be")
    assert "'nope' is not an argument of my_adamw" in out["errors"][1]
    assert out["errors"][2].startswith("TypeError: register: factory must be")
