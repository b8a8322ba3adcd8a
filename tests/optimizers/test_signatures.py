"""Signatures and state classes of part 1's optimizers are Optax's.

Same parameter names, order, kinds and defaults as Optax 0.2.8; the only
additions are tsx's keyword-only ``nu_dtype`` arguments.
"""

import inspect

import numpy as np
import optax
import pytest

import tsx
from tests.oracle import nested_params

FUNCTIONS = [
    "sgd",
    "rmsprop",
    "scale_by_rms",
    "scale_by_stddev",
    "adafactor",
    "scale_by_factored_rms",
    "lion",
    "scale_by_lion",
    "adabelief",
    "scale_by_belief",
    "adadelta",
    "scale_by_adadelta",
    "adagrad",
    "scale_by_rss",
    "adamax",
    "adamaxw",
    "scale_by_adamax",
    "adan",
    "scale_by_adan",
    "amsgrad",
    "scale_by_amsgrad",
    "fromage",
    "lamb",
    "lars",
    "novograd",
    "scale_by_novograd",
    "noisy_sgd",
    "sign_sgd",
    "signum",
    "scale_by_sign",
    "scale_by_trust_ratio",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "normalize_by_update_norm",
    "scale_by_distance_over_gradients",
]

TSX_ONLY = {"nu_dtype"}


def _same_default(a, b):
    if a is b or a == b:
        return True
    if callable(a) and callable(b):  # e.g. adafactor's decay_rate_fn
        return a.__name__ == b.__name__
    return np.dtype(a) == np.dtype(b)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_signature_matches_optax(name):
    ours = inspect.signature(getattr(tsx, name)).parameters
    theirs = inspect.signature(getattr(optax, name)).parameters
    shared = [p for p in ours.values() if p.name not in TSX_ONLY]
    assert [p.name for p in shared] == list(theirs)
    for p in shared:
        q = theirs[p.name]
        assert p.kind == q.kind, p.name
        assert _same_default(p.default, q.default), (p.name, p.default, q.default)
    for extra in set(ours) & TSX_ONLY:
        assert ours[extra].kind == inspect.Parameter.KEYWORD_ONLY
        assert ours[extra].default is None


@pytest.mark.parametrize(
    "name",
    [
        "FactoredState",
        "ScaleByAdaDeltaState",
        "ScaleByAdanState",
        "ScaleByAmsgradState",
        "ScaleByBeliefState",
        "ScaleByLionState",
        "ScaleByNovogradState",
        "ScaleByRStdDevState",
        "ScaleByRmsState",
        "ScaleByRssState",
    ],
)
def test_state_class_fields_match_optax(name):
    assert getattr(tsx, name)._fields == getattr(optax, name)._fields


def test_trust_ratio_state_is_empty_state():
    assert tsx.ScaleByTrustRatioState is tsx.EmptyState
    params = nested_params()
    tx = tsx.scale_by_trust_ratio()
    assert tx.init(params) == tsx.ScaleByTrustRatioState()
