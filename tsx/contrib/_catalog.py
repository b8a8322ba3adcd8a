"""The rows of :mod:`tsx.contrib` in the optimizer registry.

Registered by name (``"contrib.<name>"``) when the package is imported, so
that ``tsx.optimizers.get`` and ``build`` reach them while
``tsx.optimizers`` never imports ``tsx.contrib``.
"""

from tsx.contrib._acprop import acprop
from tsx.contrib._ademamix import ademamix, simplified_ademamix
from tsx.contrib._adopt import adopt
from tsx.contrib._cocob import cocob
from tsx.contrib._dadapt_adamw import dadapt_adamw
from tsx.contrib._dog import dog, dowg
from tsx.contrib._galore import galore
from tsx.contrib._kron import kron
from tsx.contrib._madgrad import madgrad
from tsx.contrib._momo import momo, momo_adam
from tsx.contrib._muon_alias import muon
from tsx.contrib._privacy import dpsgd
from tsx.contrib._prodigy import prodigy
from tsx.contrib._schedule_free import schedule_free_adamw, schedule_free_sgd
from tsx.contrib._shampoo import shampoo
from tsx.contrib._soap import soap
from tsx.contrib._sophia import sophia
from tsx.optimizers import register

# The optimizer, its decoupled weight-decay argument, that decay's mask argument.
_ROWS = (
    (acprop, "weight_decay", "mask"),
    (ademamix, "weight_decay", "mask"),
    (adopt, None, None),
    (cocob, "weight_decay", "mask"),
    (dadapt_adamw, "weight_decay", None),
    (dog, "weight_decay", "mask"),
    (dowg, "weight_decay", "mask"),
    (dpsgd, None, None),
    (galore, "weight_decay", "mask"),
    (kron, "weight_decay", "mask"),
    (madgrad, "weight_decay", None),
    (momo, "weight_decay", None),
    (momo_adam, "weight_decay", None),
    (muon, "weight_decay", "weight_decay_mask"),
    (prodigy, "weight_decay", None),
    (schedule_free_adamw, "weight_decay", None),
    (schedule_free_sgd, "weight_decay", None),
    (shampoo, "weight_decay", "mask"),
    (simplified_ademamix, "weight_decay", "mask"),
    (soap, "weight_decay", "mask"),
    (sophia, "weight_decay", "weight_decay_mask"),
)

for _factory, _decay, _mask in _ROWS:
    register(
        f"contrib.{_factory.__name__}",
        _factory,
        weight_decay=_decay,
        weight_decay_mask=_mask,
    )
