"""Optimizers, their ``scale_by_*`` building blocks, and the registry by name."""

from tsx import _module_aliases
from tsx.optimizers._adabelief import (
    ScaleByBeliefState,
    adabelief,
    scale_by_belief,
)
from tsx.optimizers._adadelta import (
    ScaleByAdaDeltaState,
    adadelta,
    scale_by_adadelta,
)
from tsx.optimizers._adafactor import (
    FactoredState,
    adafactor,
    scale_by_factored_rms,
)
from tsx.optimizers._adagrad import (
    ScaleByRssState,
    adagrad,
    scale_by_rss,
)
from tsx.optimizers._adam import (
    ScaleByAdamState,
    adam,
    adamw,
    nadam,
    nadamw,
    scale_by_adam,
)
from tsx.optimizers._adamax import (
    adamax,
    adamaxw,
    scale_by_adamax,
)
from tsx.optimizers._adan import (
    ScaleByAdanState,
    adan,
    scale_by_adan,
)
from tsx.optimizers._amsgrad import (
    ScaleByAmsgradState,
    amsgrad,
    scale_by_amsgrad,
)
from tsx.optimizers._backtracking_linesearch import (
    ScaleByBacktrackingLinesearchState,
    scale_by_backtracking_linesearch,
)
from tsx.optimizers._distance_over_gradients import (
    ScaleByDistanceOverGradientsState,
    scale_by_distance_over_gradients,
)
from tsx.optimizers._fromage import fromage
from tsx.optimizers._lamb import lamb
from tsx.optimizers._lars import lars
from tsx.optimizers._lbfgs import (
    ScaleByLBFGSState,
    lbfgs,
    scale_by_lbfgs,
)
from tsx.optimizers._linesearch_utils import value_and_grad_from_state
from tsx.optimizers._lion import (
    ScaleByLionState,
    lion,
    scale_by_lion,
)
from tsx.optimizers._noisy_sgd import noisy_sgd
from tsx.optimizers._novograd import (
    ScaleByNovogradState,
    novograd,
    scale_by_novograd,
)
from tsx.optimizers._optimistic import (
    optimistic_adam,
    optimistic_adam_v2,
    optimistic_gradient_descent,
    scale_by_optimistic_gradient,
)
from tsx.optimizers._param_block import (
    scale_by_param_block_norm,
    scale_by_param_block_rms,
)
from tsx.optimizers._polyak import polyak_sgd, scale_by_polyak
from tsx.optimizers._radam import radam, scale_by_radam
from tsx.optimizers._registry import (
    OptimizerEntry,
    available,
    build,
    get,
    register,
    registry,
)
from tsx.optimizers._rmsprop import (
    ScaleByRmsState,
    ScaleByRmsWithCountState,
    ScaleByRStdDevState,
    ScaleByRStdDevWithCountState,
    rmsprop,
    scale_by_rms,
    scale_by_stddev,
)
from tsx.optimizers._rprop import (
    ScaleByRpropState,
    rprop,
    scale_by_rprop,
)
from tsx.optimizers._sgd import sgd
from tsx.optimizers._sign import (
    scale_by_sign,
    sign_sgd,
    signum,
)
from tsx.optimizers._sm3 import (
    ScaleBySM3State,
    scale_by_sm3,
    sm3,
)
from tsx.optimizers._trust_ratio import ScaleByTrustRatioState, scale_by_trust_ratio
from tsx.optimizers._update_norm import normalize_by_update_norm
from tsx.optimizers._yogi import scale_by_yogi, yogi
from tsx.optimizers._zoom_linesearch import (
    ScaleByZoomLinesearchState,
    ZoomLinesearchInfo,
    scale_by_zoom_linesearch,
)

__all__ = [
    "OptimizerEntry",
    "available",
    "build",
    "get",
    "register",
    "registry",
    "FactoredState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdanState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByBeliefState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByLBFGSState",
    "ScaleByLionState",
    "ScaleByNovogradState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleBySM3State",
    "ScaleByTrustRatioState",
    "ScaleByZoomLinesearchState",
    "ZoomLinesearchInfo",
    "adabelief",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamaxw",
    "adamw",
    "adan",
    "amsgrad",
    "fromage",
    "lamb",
    "lars",
    "lbfgs",
    "lion",
    "nadam",
    "nadamw",
    "noisy_sgd",
    "normalize_by_update_norm",
    "novograd",
    "optimistic_adam",
    "optimistic_adam_v2",
    "optimistic_gradient_descent",
    "polyak_sgd",
    "radam",
    "rmsprop",
    "rprop",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_amsgrad",
    "scale_by_backtracking_linesearch",
    "scale_by_belief",
    "scale_by_distance_over_gradients",
    "scale_by_factored_rms",
    "scale_by_lbfgs",
    "scale_by_lion",
    "scale_by_novograd",
    "scale_by_optimistic_gradient",
    "scale_by_param_block_norm",
    "scale_by_param_block_rms",
    "scale_by_polyak",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "scale_by_rss",
    "scale_by_sign",
    "scale_by_sm3",
    "scale_by_stddev",
    "scale_by_trust_ratio",
    "scale_by_yogi",
    "scale_by_zoom_linesearch",
    "sgd",
    "sign_sgd",
    "signum",
    "sm3",
    "value_and_grad_from_state",
    "yogi",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
