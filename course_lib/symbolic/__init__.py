"""Sympy derivations of the paper's results, each returning a :class:`Derivation` with a verdict.

``verify_all()`` runs every derivation and returns ``{name: ok}`` with stable names. Modules:
``ito`` (Ito's lemma, OU), ``vp``, ``ve``, ``cld`` (the paper's CLD and Dockhorn's), ``reverse``
(Fokker-Planck, probability flow, reverse-time SDE). sympy only: no torch or numpy here.
"""

from __future__ import annotations

from collections.abc import Callable

from course_lib.symbolic.cld import (
    cld_covariance,
    cld_exact_reversal,
    cld_expm,
    cld_hsm_kernel,
    cld_hsm_velocity_score,
    cld_lyapunov,
    cld_paper_prior,
    cld_paper_reversal_fails,
    cld_sigma2,
)
from course_lib.symbolic.core import Derivation
from course_lib.symbolic.ito import (
    ItoDifferential,
    ito_gbm_log,
    ito_lemma,
    ito_w_squared,
    ou_moments,
    vp_integrating_factor,
)
from course_lib.symbolic.reverse import (
    dropped_noise_is_not_probability_flow,
    fokker_planck_gaussian,
    probability_flow_continuity,
    reverse_sde_marginals,
)
from course_lib.symbolic.ve import (
    ve_conditional_score,
    ve_euler_factor,
    ve_kernel_variance,
    ve_schedule,
    ve_weighting_equivalence,
)
from course_lib.symbolic.vp import (
    vp_conditional_score,
    vp_cosine_endpoint,
    vp_cosine_schedule,
    vp_ddpm_limit,
    vp_eps_loss_reweighting,
    vp_kernel_ito_isometry,
    vp_kernel_moment_odes,
)

#: Every derivation, in course order. The function name is the check's stable name.
DERIVATIONS: tuple[Callable[[], Derivation], ...] = (
    ito_w_squared,
    ito_gbm_log,
    ou_moments,
    vp_integrating_factor,
    vp_kernel_ito_isometry,
    vp_kernel_moment_odes,
    vp_ddpm_limit,
    vp_conditional_score,
    vp_eps_loss_reweighting,
    vp_cosine_schedule,
    vp_cosine_endpoint,
    ve_schedule,
    ve_kernel_variance,
    ve_conditional_score,
    ve_weighting_equivalence,
    ve_euler_factor,
    cld_expm,
    cld_covariance,
    cld_lyapunov,
    cld_sigma2,
    cld_paper_prior,
    cld_exact_reversal,
    cld_paper_reversal_fails,
    cld_hsm_kernel,
    cld_hsm_velocity_score,
    fokker_planck_gaussian,
    probability_flow_continuity,
    reverse_sde_marginals,
    dropped_noise_is_not_probability_flow,
)

#: Checks that show an error or an unstated assumption in the paper's text.
PAPER_ERRATA: tuple[str, ...] = (
    "ve_kernel_variance",
    "cld_paper_prior",
    "cld_paper_reversal_fails",
    "dropped_noise_is_not_probability_flow",
)


def run_all() -> dict[str, Derivation]:
    """Every derivation's result, keyed by its stable name."""
    results = {}
    for derive in DERIVATIONS:
        result = derive()
        if result.name != derive.__name__:
            raise RuntimeError(f"{derive.__name__} returned a result named {result.name!r}")
        results[result.name] = result
    return results


def verify_all() -> dict[str, bool]:
    """``{name: ok}`` for every derivation (True when sympy proved it)."""
    return {name: result.ok for name, result in run_all().items()}


__all__ = [
    "DERIVATIONS",
    "Derivation",
    "ItoDifferential",
    "PAPER_ERRATA",
    "ito_lemma",
    "run_all",
    "verify_all",
    *[derive.__name__ for derive in DERIVATIONS],
]
