"""``muon.muon(..., momentum=...)``: the usage guide's spelling of Muon.

The Optax usage guide that users arrive with imports ``muon`` from
``optax.contrib`` and writes::

    muon_tx = muon.muon(learning_rate=..., momentum=0.95, nesterov=True, ns_steps=5)

as if ``muon`` were a module, and calls the momentum decay ``momentum`` where
the optimizer calls it ``beta``. To keep that code running, the function
``tsx.contrib.muon`` carries one attribute, ``muon``: the same optimizer with
``momentum`` accepted as another name for ``beta``. This module is the only
place that attribute is set.
"""


import functools
import inspect
from typing import Any

import jax

from tsx._base import GradientTransformation
from tsx.contrib._muon import muon

__all__ = ["muon", "muon_with_momentum"]

_SIGNATURE = inspect.signature(muon)
_BETA_POSITION = list(_SIGNATURE.parameters).index("beta")


@functools.wraps(muon)
def muon_with_momentum(
    *args: Any, momentum: jax.typing.ArrayLike | None = None, **kwargs: Any
) -> GradientTransformation:
    if momentum is not None:
        if "beta" in kwargs or len(args) > _BETA_POSITION:
            raise TypeError(
                "muon takes the momentum decay as beta or as momentum, not both; "
                f"got momentum={momentum!r} and a beta."
            )
        kwargs["beta"] = momentum
    return muon(*args, **kwargs)


muon_with_momentum.__doc__ = (
    ":func:`muon` with ``momentum`` accepted as another name for ``beta`` "
    "(the usage guide's spelling: ``muon.muon(learning_rate=..., "
    "momentum=0.95, nesterov=True, ns_steps=5)``). Giving both is an error."
)
muon_with_momentum.__signature__ = _SIGNATURE.replace(
    parameters=[
        *_SIGNATURE.parameters.values(),
        inspect.Parameter(
            "momentum", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Any
        ),
    ]
)
muon.muon = muon_with_momentum
