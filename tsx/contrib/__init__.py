"""Contributed optimizers (``optax.contrib``'s names).

Every public name of ``optax.contrib`` is here, with the same signature,
defaults, numerics and state layout. tsx additions: ``nu_dtype`` beside
``mu_dtype`` wherever a contrib optimizer keeps a second moment, and
``muon.muon(..., momentum=...)``, the usage guide's spelling of
:func:`muon` (``momentum`` is Optax's ``beta``).
"""

from tsx.contrib.acprop import acprop, scale_by_acprop
from tsx.contrib.ademamix import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    ademamix,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
    simplified_ademamix,
)
from tsx.contrib.adopt import adopt, scale_by_adopt
from tsx.contrib.cocob import COCOBState, cocob, scale_by_cocob
from tsx.contrib.complex_valued import (
    SplitRealAndImaginaryState,
    split_real_and_imaginary,
)
from tsx.contrib.dadapt_adamw import DAdaptAdamWState, dadapt_adamw
from tsx.contrib.dog import DoGState, DoWGState, dog, dowg
from tsx.contrib.galore import (
    GaLoreDimensionNumbers,
    GaLoreState,
    galore,
    scale_by_galore,
)
from tsx.contrib.madgrad import MadgradState, madgrad, scale_by_madgrad
from tsx.contrib.mechanic import MechanicState, mechanize
from tsx.contrib.momo import MomoAdamState, MomoState, momo, momo_adam
from tsx.contrib.muon import MuonDimensionNumbers, MuonState, muon, scale_by_muon

__all__ = [
    "COCOBState",
    "DAdaptAdamWState",
    "DoGState",
    "DoWGState",
    "GaLoreDimensionNumbers",
    "GaLoreState",
    "MadgradState",
    "MechanicState",
    "MomoAdamState",
    "MomoState",
    "MuonDimensionNumbers",
    "MuonState",
    "ScaleByAdemamixState",
    "ScaleBySimplifiedAdEMAMixState",
    "SplitRealAndImaginaryState",
    "acprop",
    "ademamix",
    "adopt",
    "cocob",
    "dadapt_adamw",
    "dog",
    "dowg",
    "galore",
    "madgrad",
    "mechanize",
    "momo",
    "momo_adam",
    "muon",
    "scale_by_acprop",
    "scale_by_ademamix",
    "scale_by_adopt",
    "scale_by_cocob",
    "scale_by_galore",
    "scale_by_madgrad",
    "scale_by_muon",
    "scale_by_simplified_ademamix",
    "simplified_ademamix",
    "split_real_and_imaginary",
]
