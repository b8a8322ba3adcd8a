"""Hyperparameter validation: the kinds, and a hostile sweep over the whole catalog.

The sweep builds every registered optimizer with values no hyperparameter may
take (non-finite numbers, strings, lists, dicts, arbitrary objects, ``None``
where neither the default nor the annotation is ``None``) and with values just
outside each declared range, and asserts that every build fails with a
``TypeError`` or ``ValueError`` whose message names the function and the
argument.
"""

from __future__ import annotations

import functools
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tsx
from tsx import validation as v

# Arguments without a default, given valid values so the others can be probed.
REQUIRED = {
    "learning_rate": 1e-3,
    "l2_norm_clip": 1.0,
    "noise_multiplier": 0.5,
    "seed": 0,
}

# Values that no hyperparameter of any optimizer may take.
HOSTILE = [
    math.nan,
    math.inf,
    -math.inf,
    "0.5",
    [0.5],
    {"value": 0.5},
    object(),
    np.array([math.nan]),
]


def _declared(factory):
    while isinstance(factory, functools.partial):
        factory = factory.func
    return factory.__hyperparameters__


def _parameters(factory):
    return {
        name: p
        for name, p in inspect.signature(factory).parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _base_kwargs(factory):
    return {
        name: REQUIRED[name]
        for name, p in _parameters(factory).items()
        if p.default is p.empty
    }


def _range_violations(kind: v.Kind) -> list:
    """Values just outside a declared range (read off its description)."""
    text = kind.describe()
    out = []
    if "[0, 1)" in text:
        out += [-0.1, 1.0, 1.5]
    elif "[0, 1]" in text:
        out += [-0.1, 1.5]
    elif "(0, 1)" in text:
        out += [0.0, 1.0]
    elif "(0, 1]" in text:
        out += [0.0, 1.5]
    elif "[0, inf)" in text:
        out += [-1.0]
    elif "(0, inf)" in text:
        out += [0.0, -1.0]
    if "an int >= 1" in text:
        out += [0, -3, 2.5]
    elif "an int >= 0" in text:
        out += [-1, 2.5]
    return out


def _nan_at_a_boundary():
    # NaN at step 37 only: found through the boundary join_schedules records.
    return tsx.join_schedules(
        [tsx.constant_schedule(1e-3), lambda c: jnp.where(c == 0, jnp.nan, 1e-3)],
        [37],
    )


def _schedule_violations(kind: v.Kind) -> list:
    """Schedules whose values the kind refuses, at step 0 or at a boundary."""
    text = kind.describe()
    if "schedule" not in text:
        return []
    out = [lambda count: jnp.nan * jnp.ones([]), _nan_at_a_boundary()]
    if "[0, inf)" in text or "(0, inf)" in text:
        out.append(tsx.warmup_cosine_decay_schedule(0.0, -1e-3, 10, 100))
    return out


def _probes(factory):
    """``(argument, value)`` pairs that must fail when the optimizer is built."""
    declared = _declared(factory)
    for name, p in _parameters(factory).items():
        kind = declared[name]
        values = list(HOSTILE)
        if p.default is not None and "None" not in str(p.annotation):
            values.append(None)  # neither the default nor the annotation allows it
        values += _range_violations(kind)
        values += _schedule_violations(kind)
        for value in values:
            if value in (math.inf, -math.inf) and kind.problem(value) is None:
                continue  # an explicit, documented allowance (clipping norms)
            yield name, value


def _registered():
    return sorted(tsx.optimizers.registry().items())


@pytest.mark.parametrize("name,entry", _registered(), ids=lambda x: str(x)[:30])
def test_every_hyperparameter_of_every_optimizer_is_declared(name, entry):
    declared = _declared(entry.factory)
    missing = sorted(set(_parameters(entry.factory)) - set(declared))
    assert not missing, f"{name}: undeclared hyperparameters {missing}"


def _sweep():
    tried = accepted = unclear = 0
    problems = []
    for name, entry in _registered():
        factory = entry.factory
        who = _declared_name(factory)
        base = _base_kwargs(factory)
        for arg, value in _probes(factory):
            tried += 1
            kwargs = {**base, arg: value}
            try:
                factory(**kwargs)
            except (TypeError, ValueError) as error:
                message = str(error)
                if f"{arg}=" not in message or who not in message:
                    unclear += 1
                    problems.append(f"unclear: {name}({arg}={value!r}): {message}")
                continue
            accepted += 1
            problems.append(f"accepted: {name}({arg}={value!r})")
    return tried, accepted, unclear, problems


def _declared_name(factory):
    while isinstance(factory, functools.partial):
        factory = factory.func
    return factory.__name__


def test_hostile_sweep_every_bad_value_is_a_clear_build_time_error():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated optimizers, seed= warnings
        tried, accepted, unclear, problems = _sweep()
    assert tried > 2000, tried
    assert not problems, f"{accepted} accepted, {unclear} unclear of {tried}:\n" + (
        "\n".join(problems[:40])
    )


def test_a_missing_required_hyperparameter_is_named():
    missing = 0
    for _, entry in _registered():
        base = _base_kwargs(entry.factory)
        for arg in base:
            kwargs = {k: val for k, val in base.items() if k != arg}
            with pytest.raises(
                TypeError, match=rf"{_declared_name(entry.factory)}: .*'{arg}'"
            ):
                entry.factory(**kwargs)
            missing += 1
    assert missing >= 39, missing


def test_learning_rate_none_is_refused_where_the_signature_requires_one():
    # With Optax, adam(None) builds and then moves parameters along +g.
    refused = []
    for name, entry in _registered():
        p = _parameters(entry.factory).get("learning_rate")
        if p is None or p.default is not p.empty:
            continue
        with pytest.raises(TypeError, match="learning_rate=None"):
            entry.factory(**{**_base_kwargs(entry.factory), "learning_rate": None})
        refused.append(name)
    assert len(refused) >= 34, refused


def test_values_known_only_at_run_time_pass_the_build_check():
    # Tracers (vmap over learning rates, hyperparameters under jit) and
    # schedules cannot be checked when built; they are accepted.
    def build_and_step(lr):
        tx = tsx.adam(lr, b1=jnp.asarray(0.9))
        params = {"w": jnp.ones(3)}
        updates, _ = tx.update(params, tx.init(params), params)
        return updates["w"]

    out = jax.vmap(build_and_step)(jnp.array([1e-3, 1e-2]))
    np.testing.assert_allclose(out[:, 0], [-1e-3, -1e-2], rtol=1e-5)
    tsx.adam(lambda step: 1e-3 * 0.5**step)


def test_concrete_array_hyperparameters_are_checked_by_value():
    tsx.adam(jnp.asarray(1e-3), b1=np.float32(0.9), b2=jnp.bfloat16(0.99))
    with pytest.raises(ValueError, match=r"adam: b2 must .*\[0, 1\)"):
        tsx.adam(1e-3, b2=jnp.asarray(1.0))
    with pytest.raises(TypeError, match="adam: b1 must"):
        tsx.adam(1e-3, b1=jnp.asarray(True))


def test_kinds_describe_and_classify():
    assert v.DECAY.describe() == "a finite float in [0, 1)"
    assert v.DECAY.problem(0.0) is None
    assert v.DECAY.problem(1.0) is ValueError
    assert v.DECAY.problem("0.9") is TypeError
    assert v.DECAY.problem(True) is TypeError
    assert v.POSITIVE_INT.problem(3) is None
    assert v.POSITIVE_INT.problem(np.int64(3)) is None
    assert v.POSITIVE_INT.problem(0) is ValueError
    assert v.POSITIVE_INT.problem(3.0) is TypeError
    assert v.STEPS.problem(1000.0) is None
    assert v.STEPS.problem(10.5) is ValueError
    assert v.real(0.0, allow_inf=True).problem(math.inf) is None
    assert v.real(0.0, allow_inf=True).problem(math.nan) is ValueError
    assert v.LEARNING_RATE.problem(lambda step: 0.1) is None
    assert v.OPTIONAL_LEARNING_RATE.problem(None) is None
    assert v.MASK.problem({"w": True, "b": False}) is None
    assert v.MASK.problem({"w": 1.0}) is TypeError
    assert v.choice("a", "b").problem("c") is ValueError
    assert v.sequence_of(v.DECAY, 2).problem((0.9, 0.999)) is None
    assert v.sequence_of(v.DECAY, 2).problem((0.9,)) is ValueError
    assert v.DTYPE.problem("bfloat16") is None
    assert v.DTYPE.problem("float33") is ValueError
    assert v.TRANSFORMATION.problem(tsx.identity()) is None
    assert v.TRANSFORMATION.problem(tsx.adam) is TypeError


def test_declaring_an_unknown_argument_is_an_error_at_definition():
    with pytest.raises(TypeError, match=r"names \['beta'\]"):

        @v.hyperparameters(beta=v.DECAY)
        def f(alpha=0.5):
            return alpha


def test_a_class_reports_its_own_name():
    with pytest.raises(ValueError, match="MultiSteps: every_k_schedule"):
        tsx.MultiSteps(tsx.sgd(0.1), every_k_schedule=0)


def test_require_params_names_the_transformation():
    tx = tsx.add_decayed_weights(1e-4)
    params = {"w": jnp.ones(2)}
    with pytest.raises(ValueError, match="add_decayed_weights needs the parameters"):
        tx.update(params, tx.init(params))


# -- Gradients of the wrong shape or kind --------------------------------------

PARAMS = {"w": jnp.ones((3, 2)), "b": jnp.zeros(3)}


def _bad_grads(kind):
    grads = {"w": jnp.full((3, 2), 0.1), "b": jnp.full(3, 0.1)}
    if kind == "column":  # broadcasts (3,) -> (3, 3)
        grads["b"] = jnp.full((3, 1), 0.1)
    elif kind == "one":  # broadcasts to (3,) silently
        grads["b"] = jnp.full((1,), 0.1)
    elif kind == "scalar":
        grads["b"] = jnp.asarray(0.1)
    elif kind == "incompatible":
        grads["b"] = jnp.full((4,), 0.1)
    elif kind == "complex":
        grads["b"] = jnp.full(3, 0.1 + 0.1j)
    return grads


def _partition():
    return tsx.partition({"a": tsx.adam(1e-2), "s": tsx.sgd(0.1)}, {"w": "a", "b": "s"})


def _site(name):
    """A call that feeds gradients to one of the checked entry points."""
    if name == "apply_updates":
        return lambda g: tsx.apply_updates(PARAMS, g)
    if name == "update":  # an optimizer's update, without params
        tx = tsx.adam(1e-2)
        return lambda g: tx.update(g, tx.init(PARAMS))
    if name == "chain":
        tx = tsx.chain(tsx.clip_by_global_norm(1.0), tsx.sgd(0.1, momentum=0.9))
        return lambda g: tx.update(g, tx.init(PARAMS), PARAMS)
    if name == "masked":
        tx = tsx.masked(tsx.adam(1e-2), {"w": True, "b": True})
        return lambda g: tx.update(g, tx.init(PARAMS), PARAMS)
    if name == "partition":
        tx = _partition()
        return lambda g: tx.update(g, tx.init(PARAMS), PARAMS)
    if name == "multi_steps":
        tx = tsx.MultiSteps(tsx.adam(1e-2), every_k_schedule=2)
        return lambda g: tx.update(g, tx.init(PARAMS), PARAMS)
    if name == "train_state":
        state = tsx.training.TrainState.create(
            apply_fn=None, params=PARAMS, tx=tsx.adam(1e-2)
        )
        return lambda g: state.apply_gradients(grads=g)
    raise AssertionError(name)


SITES = [
    "apply_updates",
    "update",
    "chain",
    "masked",
    "partition",
    "multi_steps",
    "train_state",
]


@pytest.mark.parametrize("kind", ["column", "one", "scalar", "incompatible"])
@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_wrong_shaped_gradients_are_refused_naming_the_path(site, kind, jit):
    call = _site(site)
    if jit:
        call = jax.jit(call)
    with pytest.raises(ValueError, match=r"at \['b'\] have shape .* shape \(3,\)"):
        call(_bad_grads(kind))


@pytest.mark.parametrize("site", SITES)
def test_complex_gradients_for_real_params_are_refused(site):
    with pytest.raises(TypeError, match=r"at \['b'\] are complex \(complex64\)"):
        _site(site)(_bad_grads("complex"))


def test_optax_broadcasts_what_tsx_refuses():
    # The oracle for the failure: Optax turns the (3,) bias into (3, 3).
    import optax

    tx = optax.adam(1e-2)
    updates, _ = tx.update(_bad_grads("column"), tx.init(PARAMS), PARAMS)
    assert optax.apply_updates(PARAMS, updates)["b"].shape == (3, 3)


@pytest.mark.parametrize("site", SITES)
def test_right_gradients_pass_every_site(site):
    _site(site)(_bad_grads(None))


def test_a_mask_that_does_not_fit_names_the_path():
    tx = tsx.masked(tsx.adam(1e-2), {"w": True, "c": False})
    with pytest.raises(ValueError, match=r"mask has \['c'\], which the parameters"):
        tx.init(PARAMS)
    labels = {"w": "a", "x": {"y": "s"}}
    tx = tsx.partition({"a": tsx.adam(1e-2), "s": tsx.sgd(0.1)}, labels)
    with pytest.raises(ValueError, match=r"\['x'\]"):
        tx.init(PARAMS)


def test_per_element_gradients_still_reach_an_aggregator_chain():
    # dpsgd is fed per-example gradients: a leading batch axis is expected.
    tx = tsx.contrib.dpsgd(0.1, l2_norm_clip=1.0, noise_multiplier=0.0, seed=0)
    per_example = jax.tree.map(lambda p: jnp.ones((4, *p.shape)), PARAMS)
    updates, _ = tx.update(per_example, tx.init(PARAMS), PARAMS)
    assert updates["b"].shape == (3,)


def test_a_schedule_is_refused_at_the_step_its_value_is_bad():
    bad = tsx.warmup_cosine_decay_schedule(0.0, -1e-3, 10, 100)
    with pytest.raises(ValueError, match=r"adamw: learning_rate .* at step 10,"):
        tsx.adamw(bad)
    with pytest.raises(ValueError, match=r"returns nan at step 37,"):
        tsx.sgd(_nan_at_a_boundary())
    # Good schedules, and ones that only run under jit, pass.
    tsx.adamw(tsx.warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100))
    tsx.sgd(lambda count: 1e-3 * jax.lax.stop_gradient(count) ** 0)


def test_a_schedule_that_cannot_run_eagerly_is_left_to_run_time():
    def needs_a_tracer(count):
        if not isinstance(count, jax.core.Tracer):
            raise TypeError("only under jit")
        return 1e-3

    tx = tsx.sgd(needs_a_tracer)  # built: the check could not evaluate it
    params = {"w": jnp.ones(2)}
    updates, _ = jax.jit(tx.update)(params, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], -1e-3)
