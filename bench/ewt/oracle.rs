//! A reference for the EWT benchmark: the best estimate a model-knowing observer could give.
//!
//! At each caller's entry the oracle knows the exact state (who talks since when, who wraps up
//! until when, who is leaving, how many wait ahead) and the true distributions (talk time,
//! patience), but not the future. It rolls the queue forward [`ROLLOUTS`] times and announces
//! the median wait over the rollouts in which the caller is answered, which is the estimate
//! that minimises the expected absolute error on the scored callers. Its error is the noise
//! floor of a cell: no estimator can do much better.

use crate::{Rng, WRAP};

pub const ROLLOUTS: usize = 101;

/// What the oracle sees of one agent.
#[derive(Clone, Copy)]
pub enum Seen {
    Free,
    /// Talking since `start` (absolute time).
    Talking {
        start: f64,
    },
    /// Wrapping up until `end`.
    Wrap {
        end: f64,
    },
    /// Logged out or leaving after this call: answers no one else.
    Gone,
}

pub struct Truth {
    pub talk_mean: f64,
    pub lognormal: bool,
    pub patience: Option<f64>,
}

impl Truth {
    fn sigma_mu(&self) -> (f64, f64) {
        let s2 = (1.0 + 0.8f64 * 0.8).ln();
        (s2.sqrt(), self.talk_mean.ln() - s2 / 2.0)
    }

    pub fn talk(&self, rng: &mut Rng) -> f64 {
        if self.lognormal {
            let (s, mu) = self.sigma_mu();
            (mu + s * rng.normal()).exp()
        } else {
            rng.exp(self.talk_mean)
        }
    }

    /// Remaining talk of a call `elapsed` seconds old.
    fn residual_talk(&self, elapsed: f64, rng: &mut Rng) -> f64 {
        if !self.lognormal {
            return rng.exp(self.talk_mean); // memoryless
        }
        let (s, mu) = self.sigma_mu();
        let z_a = if elapsed > 0.0 {
            (elapsed.ln() - mu) / s
        } else {
            f64::NEG_INFINITY
        };
        let tail = upper_normal(z_a); // P(S > elapsed)
        let z = -inverse_normal(rng.unit() * tail); // upper-tail quantile, z ≥ z_a
        ((mu + s * z).exp() - elapsed).max(0.0)
    }
}

/// The oracle's median wait for a caller entering at `now` behind `ahead` waiting callers.
pub fn median_wait(
    now: f64,
    agents: &[Seen],
    ahead: usize,
    truth: &Truth,
    rng: &mut Rng,
    free: &mut Vec<f64>,
    out: &mut Vec<f64>,
) -> f64 {
    out.clear();
    let mut all_abandoned = Vec::new();
    for _ in 0..ROLLOUTS {
        free.clear();
        for a in agents {
            match *a {
                Seen::Free => free.push(0.0),
                Seen::Talking { start } => free.push(truth.residual_talk(now - start, rng) + WRAP),
                Seen::Wrap { end } => free.push((end - now).max(0.0)),
                Seen::Gone => {}
            }
        }
        if free.is_empty() {
            return f64::NAN;
        }
        let patience = |rng: &mut Rng| truth.patience.map_or(f64::INFINITY, |m| rng.exp(m));
        let mine = patience(rng);
        let mut left = ahead;
        let served = loop {
            // The agent free first answers the first caller ahead still there.
            let (i, f) = free
                .iter()
                .copied()
                .enumerate()
                .min_by(|x, y| x.1.total_cmp(&y.1))
                .expect("agents");
            while left > 0 && patience(rng) < f {
                left -= 1; // that caller left before an agent was free (memoryless patience)
            }
            if left == 0 {
                break f;
            }
            left -= 1;
            free[i] = f + truth.talk(rng) + WRAP;
        };
        if served <= mine {
            out.push(served);
        } else {
            all_abandoned.push(served);
        }
    }
    let v = if out.is_empty() {
        &mut all_abandoned
    } else {
        out
    };
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// P(N(0,1) > z), Abramowitz–Stegun 7.1.26.
fn upper_normal(z: f64) -> f64 {
    if z == f64::NEG_INFINITY {
        return 1.0;
    }
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * erfc
    } else {
        1.0 - 0.5 * erfc
    }
}

/// Φ⁻¹(p), Acklam's rational approximation (relative error < 1.2e-9).
#[allow(clippy::excessive_precision)] // Acklam's published coefficients
fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e+01,
        2.209460984245205e+02,
        -2.759285104469687e+02,
        1.383577518672690e+02,
        -3.066479806614716e+01,
        2.506628277459239e+00,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e+01,
        1.615858368580409e+02,
        -1.556989798598866e+02,
        6.680131188771972e+01,
        -1.328068155288572e+01,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e+00,
        -2.549732539343734e+00,
        4.374664141464968e+00,
        2.938163982698783e+00,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-03,
        3.224671290700398e-01,
        2.445134137142996e+00,
        3.754408661907416e+00,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}
