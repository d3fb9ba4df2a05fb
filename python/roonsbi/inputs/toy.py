r"""An analytic off-shell-like toy with exact density ratios.

Signal s(x), background b(x) and their interference i(x) in ``d`` kinematic
features. With Gaussian densities :math:`\phi_S, \phi_B` (diagonal covariance)
and yields :math:`\nu_S, \nu_B` the event intensity is

.. math::

    \lambda(x|\mu,\alpha) = \mu\,s(x) + \sqrt{\mu}\,i(x) + b(x|\alpha),\qquad
    s = \nu_S\phi_S,\quad b = \nu_B(\alpha)\,\phi_B(\cdot|\alpha),\quad i = -2c\sqrt{s\,b},

non-negative for all :math:`\mu \ge 0` when :math:`0 \le c < 1` (destructive
interference, as for the off-shell Higgs). In the basis of simulated samples
SBI (= s + i + b, i.e. :math:`\mu = 1`), S and B the intensity is

.. math:: \lambda = \sqrt{\mu}\,\mathrm{SBI} + (\mu - \sqrt{\mu})\,S + (1 - \sqrt{\mu})\,B,

which is the NSBI master formula with :math:`f = (\sqrt\mu, \mu-\sqrt\mu, 1-\sqrt\mu)`.
The exact per-event ratios against the reference :math:`p_\mathrm{ref} = (\phi_S + \phi_B)/2`
(at :math:`\alpha = 0`) play the role of perfectly trained networks.

Systematics (both exact in the NSBI basis):

* ``eff`` -- an efficiency slope in feature 0: every component is multiplied by
  :math:`e^{\alpha k x_0}`, so :math:`\lambda(x|\mu,\alpha) = \lambda(x|\mu,0)\,e^{\alpha k x_0}`.
  Per process it is a yield factor :math:`M_J(\alpha k)` (a Gaussian moment) times the
  per-event shape ratio :math:`g_J(x,\alpha) = e^{\alpha k x_0}/M_J(\alpha k)`;
* ``lumi`` -- all yields scale by :math:`\kappa^\alpha`.

The NSBI model (normsys code 4 times shape code 5) reproduces the exact likelihood at
:math:`\alpha \in \{-1, 0, 1\}`; elsewhere it is HistFactory's interpolation (for
:math:`|\alpha| > 1` the per-event part stays exact and the yield follows the exponential
extrapolation of the moments :math:`M_J`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..naming import WEIGHT_NAME, ratio_column, shape_columns
from ..spec import NormSys, Process, ShapeSys

__all__ = ["COEFFICIENTS", "OffShellToy"]

COEFFICIENTS = {"SBI": "sqrt(mu)", "S": "mu - sqrt(mu)", "B": "1 - sqrt(mu)"}


def _gauss(x: np.ndarray, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    z = (x - mean) / sigma
    return np.exp(-0.5 * np.sum(z * z, axis=-1)) / np.prod(np.sqrt(2 * np.pi) * sigma)


@dataclass
class OffShellToy:
    """Parameters of the toy; all methods are exact and vectorised over events ``x`` (n, d)."""

    nu_s: float = 60.0
    nu_b: float = 600.0
    c: float = 0.7
    mean_s: np.ndarray = field(default_factory=lambda: np.array([0.7, 0.3]))
    sigma_s: np.ndarray = field(default_factory=lambda: np.array([0.35, 0.8]))
    mean_b: np.ndarray = field(default_factory=lambda: np.array([-0.3, 0.0]))
    sigma_b: np.ndarray = field(default_factory=lambda: np.array([1.0, 1.0]))
    eff_slope: float = 0.1  # k: efficiency slope in feature 0 per unit alpha_eff
    lumi_kappa: float = 1.02  # yield factor per unit alpha_lumi

    @property
    def dim(self) -> int:
        return len(self.mean_s)

    # -- densities --------------------------------------------------------------
    def phi_s(self, x: np.ndarray) -> np.ndarray:
        return _gauss(x, np.asarray(self.mean_s), np.asarray(self.sigma_s))

    def phi_b(self, x: np.ndarray) -> np.ndarray:
        return _gauss(x, np.asarray(self.mean_b), np.asarray(self.sigma_b))

    def p_ref(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * (self.phi_s(x) + self.phi_b(x))

    def bhattacharyya(self) -> float:
        r"""\int sqrt(phi_S phi_B) dx for diagonal Gaussians (exact)."""
        s1, s2 = np.asarray(self.sigma_s), np.asarray(self.sigma_b)
        d = np.asarray(self.mean_s) - np.asarray(self.mean_b)
        v = s1**2 + s2**2
        return float(np.prod(np.sqrt(2 * s1 * s2 / v) * np.exp(-(d**2) / (4 * v))))

    def _tilt_moments(self, t: float) -> tuple[float, float, float]:
        r"""E[e^{t x_0}] under phi_S, phi_B and the normalised sqrt(phi_S phi_B)."""
        ms, ss = self.mean_s[0], self.sigma_s[0]
        mb, sb = self.mean_b[0], self.sigma_b[0]
        prec = 0.5 * (1 / ss**2 + 1 / sb**2)
        mi = 0.5 * (ms / ss**2 + mb / sb**2) / prec
        s, b, i = (float(np.exp(t * m + 0.5 * t * t * v)) for m, v in ((ms, ss**2), (mb, sb**2), (mi, 1 / prec)))
        return s, b, i

    def components(self, x: np.ndarray, alpha_eff: float = 0.0, alpha_lumi: float = 0.0):
        """Intensities s(x), i(x), b(x) (events per unit volume)."""
        scale = self.lumi_kappa**alpha_lumi * np.exp(alpha_eff * self.eff_slope * x[:, 0])
        s = self.nu_s * self.phi_s(x) * scale
        b = self.nu_b * self.phi_b(x) * scale
        return s, -2 * self.c * np.sqrt(s * b), b

    def intensity(self, x: np.ndarray, mu: float, alpha_eff: float = 0.0, alpha_lumi: float = 0.0) -> np.ndarray:
        s, i, b = self.components(x, alpha_eff, alpha_lumi)
        return mu * s + np.sqrt(mu) * i + b

    def component_yields(self, alpha_eff: float = 0.0, alpha_lumi: float = 0.0) -> tuple[float, float, float]:
        """Integrals of s, i, b (exact)."""
        ms, mb, mi = self._tilt_moments(alpha_eff * self.eff_slope)
        lumi = self.lumi_kappa**alpha_lumi
        nu_i = -2 * self.c * np.sqrt(self.nu_s * self.nu_b) * self.bhattacharyya() * mi
        return self.nu_s * ms * lumi, nu_i * lumi, self.nu_b * mb * lumi

    def expected(self, mu: float, alpha_eff: float = 0.0, alpha_lumi: float = 0.0) -> float:
        r"""nu(mu) = mu nu_S + sqrt(mu) nu_I + nu_B."""
        s, i, b = self.component_yields(alpha_eff, alpha_lumi)
        return mu * s + np.sqrt(mu) * i + b

    # -- basis samples ----------------------------------------------------------------
    def basis_yields(self, alpha_eff: float = 0.0, alpha_lumi: float = 0.0) -> dict[str, float]:
        s, i, b = self.component_yields(alpha_eff, alpha_lumi)
        return {"SBI": s + i + b, "S": s, "B": b}

    def basis_densities(self, x: np.ndarray, alpha_eff: float = 0.0) -> dict[str, np.ndarray]:
        s, i, b = self.components(x, alpha_eff)
        y = self.basis_yields(alpha_eff)
        return {"SBI": (s + i + b) / y["SBI"], "S": s / y["S"], "B": b / y["B"]}

    def ratios(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Exact r_J(x) = p_J(x)/p_ref(x) for the basis samples at alpha = 0."""
        ref = self.p_ref(x)
        return {k: v / ref for k, v in self.basis_densities(x).items()}

    def ratio_columns(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The exact ratios as the columns ``r_J`` that the model and template builders read."""
        return {ratio_column(k): v for k, v in self.ratios(x).items()}

    def eff_shapes(self, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per-event shape variations of ``eff``: g_J(x, -+1) = p_J(x|alpha_eff = -+1)/p_J(x)."""
        p0 = self.basis_densities(x)
        lo, hi = (self.basis_densities(x, alpha_eff=a) for a in (-1.0, 1.0))
        return {k: (lo[k] / p0[k], hi[k] / p0[k]) for k in p0}

    def template_columns(self, x: np.ndarray, n_total: int | None = None) -> dict[str, np.ndarray]:
        """Columns of reference events x ~ p_ref for :func:`roonsbi.templates.build_templates`:
        the exact ratios ``r_J``, ``weight`` = 1/n_total (default: the events given), the feature
        ``x0`` and the ``eff`` shape variations ``g_J_eff_lo/_hi``."""
        cols = self.ratio_columns(x)
        cols[WEIGHT_NAME] = np.full(len(x), 1.0 / (len(x) if n_total is None else n_total))
        cols["x0"] = x[:, 0]
        for k, (lo, hi) in self.eff_shapes(x).items():
            cols[shape_columns(k, "eff")[0]], cols[shape_columns(k, "eff")[1]] = lo, hi
        return cols

    def processes(self, x: np.ndarray, systematics: bool = True) -> list[Process]:
        """The basis samples as :class:`roonsbi.model.Process` with exact columns:
        with ``systematics``, ``eff`` as normsys and per-event shapesys and ``lumi`` as normsys."""
        r = self.ratios(x)
        y0 = self.basis_yields()
        shapes = self.eff_shapes(x) if systematics else {}
        out = []
        for name in ("SBI", "S", "B"):
            normsys, shapesys = {}, {}
            if systematics:
                lo, hi = (self.basis_yields(alpha_eff=a)[name] / y0[name] for a in (-1.0, 1.0))
                normsys["eff"] = NormSys(lo, hi)
                shapesys["eff"] = ShapeSys(*shapes[name])
                normsys["lumi"] = NormSys(1 / self.lumi_kappa, self.lumi_kappa)
            out.append(Process(name, y0[name], r[name], COEFFICIENTS[name], normsys, shapesys))
        return out

    # -- sampling ---------------------------------------------------------------------
    def sample_ref(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n events from p_ref = (phi_S + phi_B)/2."""
        from_s = rng.random(n) < 0.5
        mean = np.where(from_s[:, None], self.mean_s, self.mean_b)
        sigma = np.where(from_s[:, None], self.sigma_s, self.sigma_b)
        return mean + sigma * rng.standard_normal((n, self.dim))

    def generate(self, mu: float, rng: np.random.Generator) -> np.ndarray:
        """Pseudo-data at alpha = 0: Poisson(nu(mu)) events from lambda(x|mu) by rejection
        sampling from mu s + b, which bounds lambda since i <= 0."""
        return self.sample(mu, rng.poisson(self.expected(mu)), rng)

    def sample(self, mu: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """n events from the normalised intensity lambda(x|mu)/nu(mu) at alpha = 0 (rejection
        sampling from mu s + b, which bounds lambda since i <= 0)."""
        frac_s = mu * self.nu_s / (mu * self.nu_s + self.nu_b)
        events: list[np.ndarray] = []
        while sum(len(e) for e in events) < n:
            m = 2 * (n + 16)
            from_s = rng.random(m) < frac_s
            mean = np.where(from_s[:, None], self.mean_s, self.mean_b)
            sigma = np.where(from_s[:, None], self.sigma_s, self.sigma_b)
            x = mean + sigma * rng.standard_normal((m, self.dim))
            s, i, b = self.components(x)
            accept = rng.random(m) * (mu * s + b) < mu * s + np.sqrt(mu) * i + b
            events.append(x[accept])
        return np.concatenate(events)[:n]

    def sample_basis(self, process: str, n: int, rng: np.random.Generator) -> np.ndarray:
        """n events from the basis sample ``process``: p_SBI = lambda(x|1)/nu(1), p_S = phi_S, p_B = phi_B."""
        if process == "SBI":
            return self.sample(1.0, n, rng)
        if process not in ("S", "B"):
            raise ValueError(f"unknown basis process {process!r}; use one of {list(COEFFICIENTS)}")
        mean, sigma = (self.mean_s, self.sigma_s) if process == "S" else (self.mean_b, self.sigma_b)
        return mean + sigma * rng.standard_normal((n, self.dim))

    def asimov(self, mu: float, n_mc: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Expected data as weighted MC: x ~ p_ref, w = lambda(x|mu) / (n_mc p_ref(x))."""
        x = self.sample_ref(n_mc, rng)
        return x, self.intensity(x, mu) / (n_mc * self.p_ref(x))

    def exact_nll(self, x: np.ndarray, weights: np.ndarray | None, mu: float, alpha_eff: float = 0.0,
                  alpha_lumi: float = 0.0) -> float:
        r"""Exact extended unbinned NLL: nu - sum_i w_i log lambda(x_i) (no constraint terms)."""
        w = np.ones(len(x)) if weights is None else weights
        lam = self.intensity(x, mu, alpha_eff, alpha_lumi)
        return float(self.expected(mu, alpha_eff, alpha_lumi) - np.sum(w * np.log(lam)))
