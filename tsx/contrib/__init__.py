"""Contributed optimizers (``optax.contrib``'s names).

Every public name of ``optax.contrib`` is here, with the same signature,
defaults, numerics and state layout. tsx additions:

* ``nu_dtype`` beside ``mu_dtype`` wherever a contrib optimizer keeps a second
  moment (ademamix, adopt, muon's AdamW branch, sophia); the default keeps
  Optax's dtypes.
* ``muon.muon(..., momentum=...)``: the usage guide imports ``muon`` as if it
  were a module; :func:`muon` carries an attribute ``muon`` that is the same
  optimizer with ``momentum`` accepted as the name of ``beta``
  (``tsx/contrib/_muon_alias.py``).
* Bad hyperparameters raise ``ValueError`` naming the argument when the
  optimizer is built.
"""

from tsx import _module_aliases
from tsx.contrib._acprop import acprop, scale_by_acprop
from tsx.contrib._ademamix import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    ademamix,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
    simplified_ademamix,
)
from tsx.contrib._adopt import adopt, scale_by_adopt
from tsx.contrib._cocob import (
    COCOBState,
    cocob,
    scale_by_cocob,
)
from tsx.contrib._complex_valued import (
    SplitRealAndImaginaryState,
    split_real_and_imaginary,
)
from tsx.contrib._dadapt_adamw import DAdaptAdamWState, dadapt_adamw
from tsx.contrib._dog import (
    DoGState,
    DoWGState,
    dog,
    dowg,
)
from tsx.contrib._galore import (
    GaLoreDimensionNumbers,
    GaLoreState,
    galore,
    scale_by_galore,
)
from tsx.contrib._kron import KronState, kron, scale_by_kron, update_probability
from tsx.contrib._madgrad import (
    MadgradState,
    madgrad,
    scale_by_madgrad,
)
from tsx.contrib._mechanic import MechanicState, mechanize
from tsx.contrib._momo import (
    MomoAdamState,
    MomoState,
    momo,
    momo_adam,
)
from tsx.contrib._muon import MuonDimensionNumbers, MuonState, scale_by_muon
from tsx.contrib._muon_alias import muon
from tsx.contrib._privacy import (
    DifferentiallyPrivateAggregateState,
    differentially_private_aggregate,
    dpsgd,
)
from tsx.contrib._prodigy import ProdigyState, prodigy
from tsx.contrib._reduce_on_plateau import ReduceLROnPlateauState, reduce_on_plateau
from tsx.contrib._sam import (
    NormalizeState,
    SAMState,
    normalize,
    sam,
)
from tsx.contrib._schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_adamw,
    schedule_free_eval_params,
    schedule_free_sgd,
)
from tsx.contrib._shampoo import ShampooState, scale_by_shampoo, shampoo
from tsx.contrib._soap import SoapState, scale_by_soap, soap
from tsx.contrib._sophia import (
    HutchinsonState,
    SophiaState,
    hutchinson_estimator_diag_hessian,
    sophia,
)

# Imported for its effect: the "contrib.*" rows of tsx.optimizers.registry().
from tsx.contrib import _catalog  # isort: skip

__all__ = [
    "soap",
    "scale_by_soap",
    "shampoo",
    "scale_by_shampoo",
    "update_probability",
    "scale_by_kron",
    "kron",
    "SoapState",
    "ShampooState",
    "KronState",
    "COCOBState",
    "DAdaptAdamWState",
    "DifferentiallyPrivateAggregateState",
    "DoGState",
    "DoWGState",
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "HutchinsonState",
    "MadgradState",
    "MechanicState",
    "MomoAdamState",
    "MomoState",
    "MuonDimensionNumbers",
    "MuonState",
    "NormalizeState",
    "ProdigyState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "ScheduleFreeState",
    "SophiaState",
    "SplitRealAndImaginaryState",
    "acprop",
    "ademamix",
    "adopt",
    "cocob",
    "dadapt_adamw",
    "differentially_private_aggregate",
    "dog",
    "dowg",
    "dpsgd",
    "galore",
    "hutchinson_estimator_diag_hessian",
    "madgrad",
    "mechanize",
    "momo",
    "momo_adam",
    "muon",
    "normalize",
    "prodigy",
    "reduce_on_plateau",
    "sam",
    "scale_by_acprop",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_cocob",
    "scale_by_galore",
    "scale_by_madgrad",
    "scale_by_muon",
    "scale_by_simplified_ademamix",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_sgd",
    "simplified_ademamix",
    "sophia",
    "split_real_and_imaginary",
]


def __getattr__(name: str):
    # Old (0.1) module paths, deprecated: see tsx/_module_aliases.py.
    return _module_aliases.getattr_or_raise(__name__, name)
