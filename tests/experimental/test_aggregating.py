"""tsx.experimental.aggregating against optax.experimental.aggregating.

Every builder is run side by side with Optax's on the same per-element
gradients (jitted unless said otherwise): outputs, full states and state
layouts must agree; the merged micro-batch statistics are also checked
against NumPy's mean and variance of the whole batch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.experimental.helpers import (
    agg,
    param_grads,
    per_element_grads,
    run_both,
    small_params,
)
from tests.oracle import assert_trees_close, state_layout

PARAMS = small_params()

# (per_elt_axis, batch shape, whether the batch axes come last)
AXES = [
    (0, (4,), False),
    ((0, 1), (2, 3), False),
    ([0, 1], (2, 3), False),
    (-1, (4,), True),
]


def _grads(batch_shape=(4,), trailing=False):
    return lambda step: per_element_grads(PARAMS, step, batch_shape, trailing)


# --- average_per_element_updates -------------------------------------------


def test_average_per_element_updates_default_axis():
    run_both(lambda lib: agg(lib).average_per_element_updates(), _grads(), steps=2)


@pytest.mark.parametrize("axis,batch,trailing", AXES)
def test_average_per_element_updates_axes(axis, batch, trailing):
    run_both(
        lambda lib: agg(lib).average_per_element_updates(axis),
        _grads(batch, trailing),
        steps=2,
    )


def test_average_per_element_updates_is_the_batch_mean():
    g = per_element_grads(PARAMS, 0)
    tx = tsx.experimental.aggregating.average_per_element_updates()
    out, _ = tx.update(g, tx.init(PARAMS))
    expected = jax.tree.map(lambda x: np.mean(np.asarray(x, np.float64), 0), g)
    assert_trees_close(out, expected)


# --- accumulate_avg_updates / average_incrementally_updates ----------------


@pytest.mark.parametrize("k", [1, 2, 3])
def test_accumulate_avg_updates(k):
    run_both(
        lambda lib: agg(lib).accumulate_avg_updates(k),
        lambda step: param_grads(PARAMS, step),
        steps=7,
    )


def test_accumulate_avg_updates_eager():
    run_both(
        lambda lib: agg(lib).accumulate_avg_updates(3),
        lambda step: param_grads(PARAMS, step),
        steps=4,
        jit=False,
    )


def test_accumulate_avg_updates_emits_the_mean_every_k_calls():
    k = 3
    tx = tsx.experimental.aggregating.accumulate_avg_updates(k)
    state = tx.init(PARAMS)
    gs = [param_grads(PARAMS, s) for s in range(k)]
    for s, g in enumerate(gs):
        out, state = tx.update(g, state)
        assert bool(state.ready) == (s == k - 1)
    expected = jax.tree.map(lambda *xs: np.mean(np.stack(xs), 0), *gs)
    assert_trees_close(out, expected)
    assert int(state.micro_step) == 0


def test_accumulate_one_step_is_identity_in_both():
    for lib in (tsx, optax):
        tx = agg(lib).accumulate_avg_updates(1)
        assert type(tx) is lib.GradientTransformation
        assert tx.init(PARAMS) == lib.EmptyState()


@pytest.mark.parametrize("k", [0, -2])
def test_accumulation_steps_below_one_rejected(k):
    with pytest.raises(ValueError, match="accumulation_steps"):
        tsx.experimental.aggregating.accumulate_avg_updates(k)
    with pytest.raises(ValueError):
        optax.experimental.aggregating.accumulate_avg_updates(k)


@pytest.mark.parametrize(
    "axis,k,batch",
    [(None, 1, None), (None, 3, None), (0, 1, (4,)), (0, 3, (4,)), ((0, 1), 2, (2, 3))],
)
def test_average_incrementally_updates(axis, k, batch):
    grads = (lambda step: param_grads(PARAMS, step)) if batch is None else _grads(batch)
    run_both(
        lambda lib: agg(lib).average_incrementally_updates(axis, k), grads, steps=6
    )
    ours = tsx.experimental.aggregating.average_incrementally_updates(axis, k)
    theirs = optax.experimental.aggregating.average_incrementally_updates(axis, k)
    assert type(ours).__name__ == type(theirs).__name__


def test_average_incrementally_updates_over_k_micro_batches_is_the_full_mean():
    k = 2
    tx = tsx.experimental.aggregating.average_incrementally_updates(0, k)
    state = tx.init(PARAMS)
    gs = [per_element_grads(PARAMS, s) for s in range(k)]
    for g in gs:
        out, state = tx.update(g, state)
    expected = jax.tree.map(
        lambda *xs: np.mean(np.concatenate([np.asarray(x) for x in xs]), 0), *gs
    )
    assert_trees_close(out, expected)


# --- process -----------------------------------------------------------------


def test_process_with_accumulation_runs_optimizer_only_when_ready():
    def make(lib):
        return agg(lib).process(
            lib.clip(0.5),
            agg(lib).average_incrementally_updates(0, 3),
            lib.adam(1e-2),
        )

    state_a, _ = run_both(make, _grads(), steps=7)
    # 7 calls, 3 micro-batches per step: Adam has stepped twice.
    assert int(state_a[2][0].count) == 2
    assert isinstance(make(tsx), tsx.experimental.aggregating.Aggregator)


def test_process_without_ready_field_runs_optimizer_every_step():
    def make(lib):
        return agg(lib).process(
            lib.identity(),
            agg(lib).average_per_element_updates(),
            lib.sgd(0.1, momentum=0.9),
        )

    run_both(make, _grads(), steps=3, jit=False)
    run_both(make, _grads(), steps=3)


def test_process_with_plain_transformation_aggregator():
    def make(lib):
        return agg(lib).process(
            lib.identity(), agg(lib).accumulate_avg_updates(2), lib.adamw(1e-2)
        )

    run_both(make, lambda step: param_grads(PARAMS, step), steps=5)
    tx = make(tsx)
    assert type(tx) is tsx.GradientTransformationExtraArgs
    assert not isinstance(tx, tsx.experimental.aggregating.Aggregator)
    assert type(make(optax)) is optax.GradientTransformationExtraArgs


def _aux_pipeline(lib, k):
    """An aggregator with aux whose entry scales the postprocessor's input."""

    def mean_with_factor(per_elt, state, params=None):
        del params
        mean = jax.tree.map(lambda x: jnp.mean(x, 0), per_elt)
        return (mean, {"factor": 2.5}), state

    def scale_by_factor(updates, state, params=None, *, factor):
        del params
        return jax.tree.map(lambda u: factor * u, updates), state

    aggregator = agg(lib).Aggregator(lib.init_empty_state, mean_with_factor)
    if k > 1:
        # Accumulate after the aux-producing aggregator: the postprocessor
        # then waits for the accumulation's ``ready`` flag.
        accumulate = agg(lib).accumulate_avg_updates(k)

        def with_accumulation(per_elt, state, params=None):
            (mean, aux), _ = mean_with_factor(per_elt, (), params)
            mean, state = accumulate.update(mean, state)
            return (mean, aux), state

        aggregator = agg(lib).Aggregator(accumulate.init, with_accumulation)
    return agg(lib).process(
        lib.identity(),
        aggregator,
        lib.chain(
            lib.GradientTransformationExtraArgs(lib.init_empty_state, scale_by_factor),
            lib.sgd(0.1),
        ),
        aggregator_has_aux=True,
    )


@pytest.mark.parametrize("k", [1, 2])
def test_process_passes_aggregator_aux_to_postprocessor(k):
    run_both(lambda lib: _aux_pipeline(lib, k), _grads(), steps=4)


def test_process_accepts_optax_aggregator():
    def make(lib):
        return agg(lib).process(
            lib.identity(),
            optax.experimental.aggregating.average_incrementally_updates(0, 2),
            lib.sgd(0.1),
        )

    run_both(make, _grads(), steps=4)
    assert isinstance(make(tsx), tsx.experimental.aggregating.Aggregator)


# --- batch statistics ---------------------------------------------------------


@pytest.mark.parametrize("axis,batch,trailing", AXES + [((0, 1), (2, 2), False)])
def test_get_batch_size_from_per_elt_updates(axis, batch, trailing):
    g = per_element_grads(PARAMS, 0, batch, trailing)
    ours = tsx.experimental.aggregating.get_batch_size_from_per_elt_updates(g, axis)
    theirs = optax.experimental.aggregating.get_batch_size_from_per_elt_updates(g, axis)
    assert ours == theirs == int(np.prod(batch))
    assert isinstance(ours, int)


def test_get_batch_size_rejects_mixed_batch_sizes():
    g = {"a": jnp.zeros((3, 2)), "b": jnp.zeros((4, 2))}
    with pytest.raises(ValueError, match="same batch size"):
        tsx.experimental.aggregating.get_batch_size_from_per_elt_updates(g, 0)
    with pytest.raises(ValueError, match="same batch size"):
        optax.experimental.aggregating.get_batch_size_from_per_elt_updates(g, 0)


def test_get_per_element_mean_and_sum_sq_diff_grads_defaults():
    run_both(
        lambda lib: agg(lib).get_per_element_mean_and_sum_sq_diff_grads(),
        _grads(),
        steps=2,
    )


@pytest.mark.parametrize(
    "axis,k,batch,trailing",
    [
        ((0, 1), 1, (2, 3), False),
        (0, 3, (4,), False),
        ([0, 1], 2, (2, 3), False),
        (-1, 2, (4,), True),
    ],
)
def test_get_per_element_mean_and_sum_sq_diff_grads(axis, k, batch, trailing):
    run_both(
        lambda lib: agg(lib).get_per_element_mean_and_sum_sq_diff_grads(axis, k),
        _grads(batch, trailing),
        steps=2 * k + 1,
    )


@pytest.mark.parametrize("k", [1, 3])
def test_merged_statistics_are_those_of_the_whole_batch(k):
    tx = tsx.experimental.aggregating.get_per_element_mean_and_sum_sq_diff_grads(0, k)
    state = tx.init(PARAMS)
    gs = [per_element_grads(PARAMS, s) for s in range(k)]
    for g in gs:
        (mean, aux), state = tx.update(g, state)
    whole = jax.tree.map(
        lambda *xs: np.concatenate([np.asarray(x, np.float64) for x in xs]), *gs
    )
    assert int(aux["sample_size"]) == 4 * k
    assert_trees_close(mean, jax.tree.map(lambda x: x.mean(0), whole))
    assert_trees_close(
        jax.tree.map(lambda s: s / (4 * k - 1), aux["sum_sq_diff_grads"]),
        jax.tree.map(lambda x: x.var(0, ddof=1), whole),
        rtol=1e-5,
        atol=1e-5,
    )


# --- variance EMA ---------------------------------------------------------------


@pytest.mark.parametrize("decay", [None, 0.0, 0.5])
def test_track_per_element_mean_and_variance_with_ema(decay):
    def make(lib):
        track = agg(lib).track_per_element_mean_and_variance_with_ema
        return track() if decay is None else track(decay)

    def extra(step):
        return {
            "sum_sq_diff_grads": jax.tree.map(jnp.abs, param_grads(PARAMS, step + 50)),
            "sample_size": 4 + step,
        }

    run_both(make, lambda step: param_grads(PARAMS, step), steps=4, extra_args=extra)
    run_both(
        make,
        lambda step: param_grads(PARAMS, step),
        steps=2,
        extra_args=extra,
        jit=False,
    )


def test_track_requires_the_aggregator_statistics():
    tx = tsx.experimental.aggregating.track_per_element_mean_and_variance_with_ema()
    with pytest.raises(TypeError):
        tx.update(PARAMS, tx.init(PARAMS))


@pytest.mark.parametrize(
    "opt,decay,axis,k,batch",
    [
        ("adam", None, None, None, (4,)),
        ("sgd", 0.0, 0, 1, (4,)),
        ("adam", 0.9, 0, 2, (4,)),
        ("adamw", 0.5, [0, 1], 3, (2, 3)),
    ],
)
def test_add_mean_variance_to_opt(opt, decay, axis, k, batch):
    def make(lib):
        base = getattr(lib, opt)(0.1 if opt == "sgd" else 1e-2)
        kwargs = {}
        if decay is not None:
            kwargs = dict(ema_decay=decay, per_elt_axis=axis, accumulation_steps=k)
        return agg(lib).add_mean_variance_to_opt(base, **kwargs)

    steps = 2 * (k or 1) + 1
    state_a, state_b = run_both(make, _grads(batch), steps=steps)
    ours = tsx.experimental.aggregating.get_unbiased_mean_and_variance_ema(state_a)
    theirs = optax.experimental.aggregating.get_unbiased_mean_and_variance_ema(state_b)
    assert_trees_close(ours, theirs)
    # tsx reads Optax's state too (the tracker is found by its class name).
    assert_trees_close(
        tsx.experimental.aggregating.get_unbiased_mean_and_variance_ema(state_b),
        theirs,
    )
    assert isinstance(make(tsx), tsx.experimental.aggregating.Aggregator)


def test_unbiased_ema_with_zero_decay_is_last_batch_statistics():
    tx = tsx.experimental.aggregating.add_mean_variance_to_opt(
        tsx.sgd(0.1), ema_decay=0.0
    )
    state = tx.init(PARAMS)
    for step in range(2):
        g = per_element_grads(PARAMS, step)
        _, state = jax.jit(tx.update)(g, state, PARAMS)
    mean, var = tsx.experimental.aggregating.get_unbiased_mean_and_variance_ema(state)
    g64 = jax.tree.map(lambda x: np.asarray(x, np.float64), g)
    assert_trees_close(mean, jax.tree.map(lambda x: x.mean(0), g64))
    assert_trees_close(var, jax.tree.map(lambda x: x.var(0, ddof=1), g64), atol=1e-5)


def test_unbiased_ema_needs_the_tracker_state():
    state = tsx.adam(1e-3).init(PARAMS)
    with pytest.raises(ValueError, match="PerElementMeanAndVarianceEMAState"):
        tsx.experimental.aggregating.get_unbiased_mean_and_variance_ema(state)
    with pytest.raises(ValueError, match="PerElementMeanAndVarianceEMAState"):
        optax.experimental.aggregating.get_unbiased_mean_and_variance_ema(state)


def test_state_layout_of_add_mean_variance_to_opt_with_accumulation():
    ours = tsx.experimental.aggregating.add_mean_variance_to_opt(
        tsx.adam(1e-3), accumulation_steps=2
    ).init(PARAMS)
    theirs = optax.experimental.aggregating.add_mean_variance_to_opt(
        optax.adam(1e-3), accumulation_steps=2
    ).init(PARAMS)
    assert state_layout(ours) == state_layout(theirs)
    assert type(ours[1]).__name__ == "PerElementMeanAndSumSqDiffGradsState"
    assert ours[1]._fields == theirs[1]._fields
    assert ours[2][0]._fields == theirs[2][0]._fields


# --- construction-time errors ---------------------------------------------------


@pytest.mark.parametrize(
    "build,arg",
    [
        (
            lambda a: a.get_per_element_mean_and_sum_sq_diff_grads(
                accumulation_steps=0
            ),
            "accumulation_steps",
        ),
        (lambda a: a.track_per_element_mean_and_variance_with_ema(1.5), "ema_decay"),
        (lambda a: a.track_per_element_mean_and_variance_with_ema(-0.1), "ema_decay"),
        (lambda a: a.track_per_element_mean_and_variance_with_ema(1.0), "ema_decay"),
        (
            lambda a: a.add_mean_variance_to_opt(tsx.sgd(0.1), ema_decay=2.0),
            "ema_decay",
        ),
        (
            lambda a: a.add_mean_variance_to_opt(tsx.sgd(0.1), accumulation_steps=-1),
            "accumulation_steps",
        ),
    ],
)
def test_bad_hyperparameters_fail_at_construction(build, arg):
    with pytest.raises(ValueError, match=arg):
        build(tsx.experimental.aggregating)
