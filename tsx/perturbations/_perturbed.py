r"""Smoothing functions by random perturbation (perturbed optimizers).

For a function :math:`f`, a noise distribution :math:`\mu` with density
:math:`\propto e^{\nu(z)}` and a scale :math:`\sigma`, the smoothed function

.. math::
    f_\sigma(x) = \mathbb{E}_{z \sim \mu}\, f(x + \sigma z)

is differentiable even where :math:`f` is not (e.g. an argmax). Its
gradient is estimated from values of :math:`f` alone with the score function
(REINFORCE) identity

.. math::
    \nabla f_\sigma(x) = -\tfrac{1}{\sigma}\,
    \mathbb{E}\big[f(x + \sigma z)\, \nabla\nu(z)\big],

written with the DiCE "magic box" :math:`\square(\ell) = e^{\ell -
\operatorname{stop\_gradient}(\ell)}` (value 1, derivative :math:`\nabla \ell`)
so that autodiff of the Monte-Carlo average gives unbiased estimates of
derivatives of any order.
"""


from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from tsx.tree_utils import tree_add_scale, tree_random_like, tree_scale, tree_sum

__all__ = ["Gumbel", "Normal", "make_perturbed_fun"]


class Normal:
    """Standard normal noise: ``sample`` and unnormalized ``log_prob``."""

    def sample(
        self,
        key: jax.Array,
        sample_shape: tuple[int, ...] = (),
        dtype: jax.typing.DTypeLike = float,
    ) -> jax.Array:
        """Draw ``jax.random.normal(key, sample_shape, dtype)``."""
        return jax.random.normal(key, sample_shape, dtype)

    def log_prob(self, inputs: jax.Array) -> jax.Array:
        """Log-density up to a constant: :math:`-z^2 / 2`."""
        return -0.5 * inputs**2


class Gumbel:
    """Standard Gumbel noise: ``sample`` and unnormalized ``log_prob``."""

    def sample(
        self,
        key: jax.Array,
        sample_shape: tuple[int, ...] = (),
        dtype: jax.typing.DTypeLike = float,
    ) -> jax.Array:
        """Draw ``jax.random.gumbel(key, sample_shape, dtype)``."""
        return jax.random.gumbel(key, sample_shape, dtype)

    def log_prob(self, inputs: jax.Array) -> jax.Array:
        """Log-density: :math:`-z - e^{-z}`."""
        return -inputs - jnp.exp(-inputs)


def _magic_box(x: jax.Array) -> jax.Array:
    # Value 1; its derivative is that of x (Foerster et al., 2018).
    return jnp.exp(x - jax.lax.stop_gradient(x))


def make_perturbed_fun(
    fun: Callable[[Any], Any],
    num_samples: int = 1000,
    sigma: jax.typing.ArrayLike = 0.1,
    noise: Any = Gumbel(),  # noqa: B008 - stateless default, as in Optax
    use_baseline: bool = True,
) -> Callable[[jax.Array, Any], Any]:
    r"""Monte-Carlo smoothing of ``fun``: ``perturbed(key, x) ~ E[fun(x + sigma z)]``.

    Draws ``num_samples`` noise trees (``jax.random.split(key, num_samples)``,
    then one key per leaf) and averages ``fun`` at the perturbed inputs;
    derivatives of any order taken through the result are unbiased estimates
    of those of :math:`f_\sigma` (see the module docstring). With
    ``use_baseline`` the value at the unperturbed input is subtracted inside
    the score term, which reduces the variance without bias.

    Args:
      fun: a function from a tree of arrays to a tree of arrays; it need not
        be differentiable.
      num_samples: number of perturbations averaged.
      sigma: scale of the perturbation.
      noise: an object with ``sample(key, shape, dtype)`` and
        ``log_prob(z)``, e.g. :class:`Gumbel` (default) or :class:`Normal`.
      use_baseline: subtract ``fun(x)`` as a control variate.

    Returns:
      ``perturbed(key, x)``, with the output structure of ``fun``.

    References:
      Berthet et al., "Learning with Differentiable Perturbed Optimizers",
      NeurIPS 2020, arXiv:2002.08676; Foerster et al., "DiCE: The Infinitely
      Differentiable Monte Carlo Estimator", ICML 2018, arXiv:1802.05098.
    """

    def one_sample(key, x, baseline):
        z = tree_random_like(key, x, sampler=noise.sample)
        shifted = jax.lax.stop_gradient(jax.tree.map(lambda a, b: a + sigma * b, x, z))
        # Recover the noise as a function of x, so the score term carries the
        # dependence on x: z = (shifted - x) / sigma.
        z = jax.tree.map(lambda a, b: (b - a) / sigma, x, shifted)
        box = _magic_box(tree_sum(jax.tree.map(noise.log_prob, z)))
        out = tree_scale(box, fun(shifted))
        if use_baseline:
            out = tree_add_scale(out, 1 - box, baseline)
        return out

    def perturbed(key: jax.Array, x: Any) -> Any:
        baseline = fun(jax.lax.stop_gradient(x)) if use_baseline else None
        samples = jax.vmap(one_sample, in_axes=(0, None, None))(
            jax.random.split(key, num_samples), x, baseline
        )
        return jax.tree.map(lambda s: jnp.mean(s, axis=0), samples)

    return perturbed
