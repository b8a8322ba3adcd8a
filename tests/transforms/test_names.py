"""tsx exposes Optax's transforms names, listed from Optax at run time."""

import inspect

import optax

import tsx

# Names at Optax's top level that belong to transforms and wrappers (the rest
# of the top level is checked by the owners of optimizers, schedules, ...).
TOP_LEVEL = [
    "AdaptiveGradClipState",
    "AddNoiseState",
    "ApplyEvery",
    "ApplyIfFiniteState",
    "ClipByGlobalNormState",
    "ClipState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaState",
    "LookaheadParams",
    "LookaheadState",
    "MaskedNode",
    "MonitorState",
    "MultiSteps",
    "MultiStepsState",
    "MultiTransformState",
    "NonNegativeParamsState",
    "PartitionState",
    "ShouldSkipUpdateFunction",
    "SnapshotState",
    "ZeroNansState",
    "adaptive_grad_clip",
    "add_noise",
    "apply_every",
    "apply_if_finite",
    "centralize",
    "clip",
    "clip_by_block_rms",
    "clip_by_global_norm",
    "conditionally_mask",
    "conditionally_transform",
    "ema",
    "flatten",
    "freeze",
    "keep_params_nonnegative",
    "lookahead",
    "measure_with_ema",
    "monitor",
    "multi_transform",
    "partition",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
    "selective_transform",
    "skip_large_updates",
    "skip_not_finite",
    "snapshot",
    "zero_nans",
]


def test_every_optax_transforms_name_is_in_tsx_transforms():
    wanted = {n for n in dir(optax.transforms) if not n.startswith("_")}
    missing = sorted(n for n in wanted if not hasattr(tsx.transforms, n))
    assert not missing, missing


def test_transforms_top_level_names_exist_like_optax():
    for name in TOP_LEVEL:
        assert hasattr(optax, name), f"optax has no {name}: update this list"
        assert hasattr(tsx, name), name


def test_state_classes_have_optax_fields():
    for name in TOP_LEVEL:
        ours, theirs = getattr(tsx, name), getattr(optax, name)
        if hasattr(theirs, "_fields"):
            assert ours._fields == theirs._fields, name


def test_signatures_match_optax():
    # Same parameter names, kinds and defaults; tsx's partition adds the
    # keyword-only condition form on top of Optax's.
    extra = {"partition", "multi_transform"}
    for name in TOP_LEVEL:
        ours, theirs = getattr(tsx, name), getattr(optax, name)
        if not inspect.isfunction(theirs):
            continue
        a = inspect.signature(ours).parameters
        b = inspect.signature(theirs).parameters
        for pname, p in b.items():
            assert pname in a, f"{name} lacks argument {pname}"
            assert a[pname].kind == p.kind, f"{name}({pname}) kind"
            if name not in extra:
                assert a[pname].default == p.default, f"{name}({pname}) default"
        if name not in extra:
            assert list(a) == list(b), name


def test_multi_steps_constructor_and_methods_match_optax():
    a = inspect.signature(tsx.MultiSteps).parameters
    b = inspect.signature(optax.MultiSteps).parameters
    assert [(n, p.default) for n, p in a.items()] == [
        (n, p.default) for n, p in b.items()
    ]
    for method in ("init", "update", "has_updated", "gradient_transformation"):
        assert hasattr(tsx.MultiSteps, method), method
    assert isinstance(tsx.MultiSteps.inner_opt, property)
