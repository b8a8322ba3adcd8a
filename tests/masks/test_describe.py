"""describe: path, shape, dtype, size, label and optimizer-state bytes per parameter."""

import flax.traverse_util as tu
import jax
import jax.numpy as jnp
import numpy as np

import tsx
from tests.masks.models import muonish_params, zoo_variables


def test_rows_follow_the_params():
    params = zoo_variables()["params"]
    table = tsx.masks.describe(params, tsx.masks.decay_mask)
    flat = tu.flatten_dict(params, sep="/")
    assert [r.path for r in table] == list(flat)  # jax.tree.leaves order
    for row in table:
        x = flat[row.path]
        assert row.shape == x.shape and row.dtype == str(x.dtype) and row.size == x.size
        assert row.label is (row.path.endswith("kernel"))
        assert row.opt_state_bytes is None
    assert table.total_size == sum(x.size for x in flat.values())
    assert table.shared_state_bytes is None and table.total_state_bytes is None


def test_adam_state_bytes_are_charged_to_each_parameter():
    params = muonish_params()
    table = tsx.masks.describe(params, None, tx=tsx.adam(1e-3))
    for row in table:
        # mu and nu, both float32 like the parameter.
        assert row.opt_state_bytes == 2 * 4 * row.size, row.path
    assert table.shared_state_bytes == 4  # the int32 step count
    state = tsx.adam(1e-3).init(params)
    assert table.total_state_bytes == sum(
        np.asarray(x).nbytes for x in jax.tree.leaves(state)
    )


def test_mixed_dtypes_masks_and_labels():
    params = muonish_params()
    labels = tsx.masks.labels_by_path(params, {r".*/kernel": "decay"}, default="none")
    tx = tsx.chain(
        tsx.masked(tsx.adam(1e-3, mu_dtype=jnp.bfloat16), tsx.masks.decay_mask),
        tsx.add_decayed_weights(1e-4),
    )
    table = tsx.masks.describe(params, labels, tx)
    for row in table:
        expected = (2 + 4) * row.size if row.label == "decay" else 0
        assert row.opt_state_bytes == expected, row.path
    summary = table.by_label()
    assert summary["decay"]["count"] == 3
    assert summary["none"]["opt_state_bytes"] == 0


def test_prefix_labels_predicates_and_abstract_params():
    params = muonish_params()
    prefix = {k: ("mlp" if k.startswith("mlp") else "other") for k in params}
    table = tsx.masks.describe(params, prefix)
    assert table.row("mlp_out/bias").label == "mlp"
    assert table.row("ln/scale").label == "other"
    abstract = jax.eval_shape(lambda: params)
    table = tsx.masks.describe(
        abstract, tsx.masks.by_ndim(2), tx=tsx.sgd(0.1, momentum=0.9)
    )
    assert table.row("unembed/kernel").label is True
    assert table.row("unembed/kernel").opt_state_bytes == 4 * 8 * 13
    assert table.shared_state_bytes == 0


def test_string_form_lists_every_parameter_and_the_totals():
    params = muonish_params()
    text = str(tsx.masks.describe(params, tsx.masks.decay_mask, tx=tsx.adamw(1e-3)))
    lines = text.splitlines()
    assert lines[0].split() == [
        "path",
        "shape",
        "dtype",
        "size",
        "label",
        "opt_state_bytes",
    ]
    for path, x in tu.flatten_dict(params, sep="/").items():
        (line,) = [ln for ln in lines if ln.startswith(path + " ")]
        assert f"{x.size:,}" in line and str(x.dtype) in line
    total = sum(x.size for x in jax.tree.leaves(params))
    assert any(ln.startswith("total") and f"{total:,}" in ln for ln in lines)
    assert "label True: 3 params" in text
    assert (
        text
        == tsx.masks.describe(
            params, tsx.masks.decay_mask, tx=tsx.adamw(1e-3)
        ).to_string()
    )


def test_bare_array_params():
    table = tsx.masks.describe(jnp.zeros((3, 2)), None, tx=tsx.adam(1e-3))
    (row,) = table.rows
    assert row.path == "" and row.opt_state_bytes == 2 * 4 * 6
    assert table.shared_state_bytes == 4
