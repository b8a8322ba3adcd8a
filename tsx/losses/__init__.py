"""Loss functions (``optax.losses``'s names).

Most losses are element-wise or per-example: reduce them yourself (e.g.
``.mean()``).
"""

from tsx.losses.classification import *
from tsx.losses.classification import __all__ as _classification_all
from tsx.losses.ctc import *
from tsx.losses.ctc import __all__ as _ctc_all
from tsx.losses.dice import *
from tsx.losses.dice import __all__ as _dice_all
from tsx.losses.fenchel_young import *
from tsx.losses.fenchel_young import __all__ as _fenchel_young_all
from tsx.losses.kl import *
from tsx.losses.kl import __all__ as _kl_all
from tsx.losses.margin import *
from tsx.losses.margin import __all__ as _margin_all
from tsx.losses.ranking import *
from tsx.losses.ranking import __all__ as _ranking_all
from tsx.losses.regression import *
from tsx.losses.regression import __all__ as _regression_all
from tsx.losses.self_supervised import *
from tsx.losses.self_supervised import __all__ as _self_supervised_all
from tsx.losses.smoothing import *
from tsx.losses.smoothing import __all__ as _smoothing_all
from tsx.losses.sparsemax import *
from tsx.losses.sparsemax import __all__ as _sparsemax_all

__all__ = sorted(
    [
        *_classification_all,
        *_ctc_all,
        *_dice_all,
        *_fenchel_young_all,
        *_kl_all,
        *_margin_all,
        *_ranking_all,
        *_regression_all,
        *_self_supervised_all,
        *_smoothing_all,
        *_sparsemax_all,
    ]
)
