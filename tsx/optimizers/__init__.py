"""Optimizers (aliases built by chaining transformations) and their scale_by_* parts."""

from tsx.optimizers.adabelief import *  # noqa: F403
from tsx.optimizers.adabelief import __all__ as _adabelief_all
from tsx.optimizers.adadelta import *  # noqa: F403
from tsx.optimizers.adadelta import __all__ as _adadelta_all
from tsx.optimizers.adafactor import *  # noqa: F403
from tsx.optimizers.adafactor import __all__ as _adafactor_all
from tsx.optimizers.adagrad import *  # noqa: F403
from tsx.optimizers.adagrad import __all__ as _adagrad_all
from tsx.optimizers.adam import *  # noqa: F403
from tsx.optimizers.adam import __all__ as _adam_all
from tsx.optimizers.adamax import *  # noqa: F403
from tsx.optimizers.adamax import __all__ as _adamax_all
from tsx.optimizers.adan import *  # noqa: F403
from tsx.optimizers.adan import __all__ as _adan_all
from tsx.optimizers.amsgrad import *  # noqa: F403
from tsx.optimizers.amsgrad import __all__ as _amsgrad_all
from tsx.optimizers.backtracking_linesearch import *  # noqa: F403
from tsx.optimizers.backtracking_linesearch import (
    __all__ as _backtracking_linesearch_all,
)
from tsx.optimizers.distance_over_gradients import *  # noqa: F403
from tsx.optimizers.distance_over_gradients import (
    __all__ as _distance_over_gradients_all,
)
from tsx.optimizers.fromage import *  # noqa: F403
from tsx.optimizers.fromage import __all__ as _fromage_all
from tsx.optimizers.lamb import *  # noqa: F403
from tsx.optimizers.lamb import __all__ as _lamb_all
from tsx.optimizers.lars import *  # noqa: F403
from tsx.optimizers.lars import __all__ as _lars_all
from tsx.optimizers.lbfgs import *  # noqa: F403
from tsx.optimizers.lbfgs import __all__ as _lbfgs_all
from tsx.optimizers.linesearch_utils import *  # noqa: F403
from tsx.optimizers.linesearch_utils import __all__ as _linesearch_utils_all
from tsx.optimizers.lion import *  # noqa: F403
from tsx.optimizers.lion import __all__ as _lion_all
from tsx.optimizers.noisy_sgd import *  # noqa: F403
from tsx.optimizers.noisy_sgd import __all__ as _noisy_sgd_all
from tsx.optimizers.novograd import *  # noqa: F403
from tsx.optimizers.novograd import __all__ as _novograd_all
from tsx.optimizers.optimistic import *  # noqa: F403
from tsx.optimizers.optimistic import __all__ as _optimistic_all
from tsx.optimizers.param_block import *  # noqa: F403
from tsx.optimizers.param_block import __all__ as _param_block_all
from tsx.optimizers.polyak import *  # noqa: F403
from tsx.optimizers.polyak import __all__ as _polyak_all
from tsx.optimizers.radam import *  # noqa: F403
from tsx.optimizers.radam import __all__ as _radam_all

# Not in __all__: `get`/`available` live in tsx.optimizers only (Optax has no
# top-level `get`).
from tsx.optimizers.registry import available, get
from tsx.optimizers.rmsprop import *  # noqa: F403
from tsx.optimizers.rmsprop import __all__ as _rmsprop_all
from tsx.optimizers.rprop import *  # noqa: F403
from tsx.optimizers.rprop import __all__ as _rprop_all
from tsx.optimizers.sgd import *  # noqa: F403
from tsx.optimizers.sgd import __all__ as _sgd_all
from tsx.optimizers.sign import *  # noqa: F403
from tsx.optimizers.sign import __all__ as _sign_all
from tsx.optimizers.sm3 import *  # noqa: F403
from tsx.optimizers.sm3 import __all__ as _sm3_all
from tsx.optimizers.trust_ratio import *  # noqa: F403
from tsx.optimizers.trust_ratio import __all__ as _trust_ratio_all
from tsx.optimizers.update_norm import *  # noqa: F403
from tsx.optimizers.update_norm import __all__ as _update_norm_all
from tsx.optimizers.yogi import *  # noqa: F403
from tsx.optimizers.yogi import __all__ as _yogi_all
from tsx.optimizers.zoom_linesearch import *  # noqa: F403
from tsx.optimizers.zoom_linesearch import __all__ as _zoom_linesearch_all

__all__ = [
    *_adam_all,
    *_rmsprop_all,
    *_sgd_all,
    *_backtracking_linesearch_all,
    *_lbfgs_all,
    *_linesearch_utils_all,
    *_optimistic_all,
    *_polyak_all,
    *_radam_all,
    *_rprop_all,
    *_sm3_all,
    *_yogi_all,
    *_zoom_linesearch_all,
    *_adafactor_all,
    *_param_block_all,
    *_trust_ratio_all,
    *_lion_all,
    *_adabelief_all,
    *_adadelta_all,
    *_adagrad_all,
    *_adamax_all,
    *_adan_all,
    *_amsgrad_all,
    *_fromage_all,
    *_lamb_all,
    *_lars_all,
    *_novograd_all,
    *_sign_all,
    *_update_norm_all,
    *_distance_over_gradients_all,
    *_noisy_sgd_all,
]
