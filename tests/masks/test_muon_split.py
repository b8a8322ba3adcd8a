"""The usage guide's Muon/AdamW split is one predicate (or one labels_by_path) call."""

import flax.traverse_util as tu
import jax
import optax

import tsx
from tests.masks.models import muonish_params
from tests.oracle import compare_with_optax, state_layout


def is_muon_param(path, param):
    # Verbatim from the usage guide: any 2D parameter that is not an embedding.
    return param.ndim == 2 and "embedding" not in str(path).lower()


MUON = tsx.masks.by_ndim(2) & ~tsx.masks.by_path(r"(?i).*embedding.*")


def test_one_call_reproduces_the_guides_heuristic():
    params = muonish_params()
    guide = jax.tree_util.tree_map_with_path(
        lambda p, x: "muon" if is_muon_param(p, x) else "adamw", params
    )
    ours = tsx.masks.labels_by_path(params, {MUON: "muon"}, default="adamw")
    assert ours == guide
    flat = tu.flatten_dict(ours, sep="/")
    # The split is not trivial: kernels go to Muon, the embedding and
    # vectors to AdamW.
    assert flat["mlp_in/kernel"] == flat["unembed/kernel"] == "muon"
    assert flat["token_embedding/embedding"] == flat["ln/scale"] == "adamw"
    assert flat["mlp_in/bias"] == "adamw"


def _make(lib, tsx_form, guide_labels):
    muon = lib.contrib.muon(learning_rate=1e-2, beta=0.95, nesterov=True, ns_steps=5)
    adamw = lib.adamw(learning_rate=1e-2, weight_decay=1e-4)
    if lib is not tsx:
        return lib.partition({"muon": muon, "adamw": adamw}, guide_labels)
    if tsx_form == "condition":
        return tsx.partition(
            condition=MUON, true_gradient_transform=muon, false_gradient_transform=adamw
        )
    labels = lambda p: tsx.masks.labels_by_path(p, {MUON: "muon"}, default="adamw")  # noqa: E731
    return tsx.partition({"muon": muon, "adamw": adamw}, labels)


def test_partition_with_the_predicate_matches_optax_with_the_guides_labels():
    params = muonish_params()
    guide_labels = jax.tree_util.tree_map_with_path(
        lambda p, x: "muon" if is_muon_param(p, x) else "adamw", params
    )
    # The guide's call (condition form) gives Optax's numbers...
    compare_with_optax(
        lambda lib: _make(lib, "condition", guide_labels),
        params=params,
        steps=2,
        rtol=1e-4,
        atol=1e-6,
        jit=True,
        check_layout=False,  # its inner states are keyed True/False
    )
    # ...and the labels form also has Optax's state layout.
    ours = _make(tsx, "labels", guide_labels).init(params)
    ref = _make(optax, "labels", guide_labels).init(params)
    assert state_layout(ours) == state_layout(ref)
