#!/usr/bin/env python3
"""Reference values for src/experiment/sequential.ts, computed independently of its closed forms.

Writes test/unit/experiment/sequential-reference.json, which
test/unit/experiment/sequential-reference.test.ts compares with the TypeScript implementation.
The test needs only the JSON; Python is needed only to regenerate it:

    python3 -m venv /tmp/seqref && /tmp/seqref/bin/pip install numpy scipy
    /tmp/seqref/bin/pip install confseq   # optional; needs libboost-dev, see below
    /tmp/seqref/bin/python scripts/reference/sequential_vectors.py

Two independent computations per case:

1. The mSPRT of Johari, Pekelis and Walsh ("Always valid inference", Operations Research 2022,
   eq. 11) by numerical integration: the mixture likelihood ratio
   Lambda(theta0) = int N(d; theta, v) / N(d; theta0, v) * N(theta; theta0, tau2) dtheta
   with scipy.integrate.quad, tau2 = rho2 * sigma2 (sigma2 = v * t per user, rho2 from
   Waudby-Smith et al. 2024, eq. 2.6). The p-value is min(1, 1/Lambda(0)); the interval is
   {theta0 : Lambda(theta0) < 1/alpha}, its ends found with scipy.optimize.brentq.
2. When the confseq package (Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform, nonparametric,
   nonasymptotic confidence sequences", Annals of Statistics 2021; the authors' own
   implementation) is importable, its two-sided normal-mixture boundary
   confseq.boundaries.normal_mixture_bound on the standardized sum (intrinsic time t, tuned at
   t*) gives the half-width a second time. confseq 0.0.11 builds from source against
   libboost-dev (apt-get install libboost-dev) and, on Python >= 3.11, only with a current pybind11
   and --no-build-isolation.
"""

import json
import math
import os

from scipy import integrate, optimize, stats

try:
    from confseq import boundaries as confseq_boundaries  # type: ignore
except ImportError:  # optional second reference
    confseq_boundaries = None

CASES = [
    # control conversions, control users, treatment conversions, treatment users, alpha, tuned-for users
    (500, 5000, 600, 5000, 0.05, 7682),
    (500, 5000, 510, 5000, 0.05, 115526),
    (300, 3000, 360, 3000, 0.05, 7682),
    (1000, 10000, 1100, 10000, 0.05, 29502),
    (2950, 29500, 3245, 29500, 0.05, 29502),
    (120, 4000, 180, 4000, 0.01, 20000),
    (80, 2000, 60, 2500, 0.05, 10000),
    (4500, 5000, 4600, 5000, 0.10, 8000),
    (50, 1000, 52, 1000, 0.05, 500000),
    (10, 400, 25, 400, 0.025, 3000),
]


def mixing_constant(alpha):
    l = -2 * math.log(alpha)
    return l + math.log(1 + l)


def msprt_lambda(d, v, theta0, tau2):
    """Mixture likelihood ratio by quadrature over theta ~ N(theta0, tau2)."""
    sd_prior = math.sqrt(tau2)

    def integrand(theta):
        log_ratio = stats.norm.logpdf(d, theta, math.sqrt(v)) - stats.norm.logpdf(d, theta0, math.sqrt(v))
        return math.exp(log_ratio) * stats.norm.pdf(theta, theta0, sd_prior)

    # Integrate over a window wide enough for both the prior and the likelihood.
    centre = theta0 + tau2 / (tau2 + v) * (d - theta0)
    width = 12 * max(sd_prior, math.sqrt(v))
    value, _ = integrate.quad(integrand, centre - width, centre + width, epsabs=0, epsrel=1e-12, limit=400)
    return value


def case(c1, n1, c2, n2, alpha, tuned):
    t = n1 + n2
    rho2 = mixing_constant(alpha) / tuned
    # The p-value: the observed difference against its variance under H0 (the pooled rate).
    d0 = c2 / n2 - c1 / n1
    pooled = (c1 + c2) / t
    v0 = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    p_value = min(1.0, 1 / msprt_lambda(d0, v0, 0.0, rho2 * v0 * t))
    # The interval: one pseudo-success and one pseudo-failure per arm (Agresti and Caffo 2000).
    p1, p2 = (c1 + 1) / (n1 + 2), (c2 + 1) / (n2 + 2)
    d = p2 - p1
    v = p1 * (1 - p1) / (n1 + 2) + p2 * (1 - p2) / (n2 + 2)
    tau2 = rho2 * v * t
    f = lambda theta0: math.log(msprt_lambda(d, v, theta0, tau2)) - math.log(1 / alpha)
    step = math.sqrt(v)
    hi = d + step
    while f(hi) < 0:
        hi += step
    lo = d - step
    while f(lo) < 0:
        lo -= step
    upper = optimize.brentq(f, d, hi, xtol=1e-14, rtol=1e-13)
    lower = optimize.brentq(f, lo, d, xtol=1e-14, rtol=1e-13)
    out = {
        "control": [c1, n1],
        "treatment": [c2, n2],
        "alpha": alpha,
        "tunedForUsers": tuned,
        "pValue": p_value,
        "lower": lower,
        "upper": upper,
    }
    if confseq_boundaries is not None:
        # Standardized sum S_t of t unit-variance terms: intrinsic time t, tuned at t*. The bound
        # depends only on (t, alpha, t*); the half-width is sqrt(v / t) times it.
        out["confseqBound"] = confseq_boundaries.normal_mixture_bound(t, alpha, tuned, alpha, False)
    elif COMMITTED_BOUNDS.get(key(out)) is not None:
        # Without confseq, keep the bound it computed earlier (it does not depend on the counts' rates).
        out["confseqBound"] = COMMITTED_BOUNDS[key(out)]
    return out


def key(c):
    return json.dumps([c["control"], c["treatment"], c["alpha"], c["tunedForUsers"]])


def committed_bounds():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        with open(os.path.join(root, "test", "unit", "experiment", "sequential-reference.json")) as f:
            return {key(c): c.get("confseqBound") for c in json.load(f)["cases"]}
    except FileNotFoundError:
        return {}


COMMITTED_BOUNDS = committed_bounds()


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    target = os.path.join(root, "test", "unit", "experiment", "sequential-reference.json")
    cases = [case(*c) for c in CASES]
    vectors = {
        "generatedBy": "scripts/reference/sequential_vectors.py",
        "confseq": confseq_boundaries is not None or all(c.get("confseqBound") for c in cases),
        "cases": cases,
    }
    with open(target, "w") as fh:
        json.dump(vectors, fh, indent=2)
        fh.write("\n")
    print(f"wrote {target} ({len(CASES)} cases, confseq={'yes' if confseq_boundaries else 'no'})")


if __name__ == "__main__":
    main()
