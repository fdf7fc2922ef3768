//! Learning-rate and loss schedules of the solver loop.

use serde::{Deserialize, Serialize};

/// `step` of a `from`-step schedule moved to a `to`-step one, `⌊step · to / from⌋`, computed
/// without overflow for any step counts (a user may ask for `usize::MAX` steps).
pub fn scale_step(step: usize, from: usize, to: usize) -> usize {
    let scaled = step as u128 * to as u128 / from.max(1) as u128;
    usize::try_from(scaled).unwrap_or(usize::MAX)
}

/// Step decay at fixed milestones: `lr(step) = base · γ^(number of milestones ≤ step)` (PyTorch
/// `MultiStepLR` stepped with the iteration index at the start of each iteration, reference
/// spec §0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiStepLr {
    /// Learning rate before the first milestone.
    pub base: f64,
    /// Steps at which the rate is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// Decay factor.
    pub gamma: f64,
}

impl MultiStepLr {
    /// A constant rate.
    pub fn constant(base: f64) -> Self {
        MultiStepLr {
            base,
            milestones: Vec::new(),
            gamma: 1.0,
        }
    }

    /// The rate at `step`.
    pub fn lr(&self, step: usize) -> f64 {
        let passed = self.milestones.iter().filter(|&&m| m <= step).count();
        self.base * self.gamma.powi(passed as i32)
    }

    /// The same schedule with milestones scaled from `from` to `to` total iterations.
    pub fn rescaled(&self, from: usize, to: usize) -> Self {
        MultiStepLr {
            milestones: self
                .milestones
                .iter()
                .map(|&m| scale_step(m, from, to))
                .collect(),
            ..self.clone()
        }
    }
}

/// The data term: MSE (or a Charbonnier term), then 1 − SSIM from a given step (SelfDeblur,
/// GKPILE; the encoded kernel space with Charbonnier).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossSchedule {
    /// First step that uses 1 − SSIM instead of MSE; `None` keeps MSE throughout.
    pub ssim_from: Option<usize>,
    /// The steps before `ssim_from` use the mean Charbonnier term `√((ŷ − y)² + ε²)`, ε² = 1e-6
    /// (the kernel-space training loss of \[BKS\], as a mean), instead of MSE. Default: false.
    #[serde(default)]
    pub charbonnier: bool,
}

/// Which data term a step uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataTerm {
    /// Mean squared error.
    Mse,
    /// Mean Charbonnier term `√((ŷ − y)² + ε²)`, ε² = 1e-6.
    Charbonnier,
    /// One minus SSIM (differentiable SSIM of the reference code).
    OneMinusSsim,
}

impl LossSchedule {
    /// The data term at `step`.
    pub fn term(&self, step: usize) -> DataTerm {
        match self.ssim_from {
            Some(from) if step >= from => DataTerm::OneMinusSsim,
            _ if self.charbonnier => DataTerm::Charbonnier,
            _ => DataTerm::Mse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistep_matches_the_selfdeblur_schedule() {
        let s = MultiStepLr {
            base: 0.01,
            milestones: vec![2000, 3000, 4000],
            gamma: 0.5,
        };
        assert_eq!(s.lr(0), 0.01);
        assert_eq!(s.lr(1999), 0.01);
        assert_eq!(s.lr(2000), 0.005);
        assert_eq!(s.lr(3500), 0.0025);
        assert_eq!(s.lr(4999), 0.00125);
        assert_eq!(s.rescaled(5000, 1000).milestones, vec![400, 600, 800]);
        // no overflow for the largest step count: 2000 · usize::MAX / 5000
        assert_eq!(
            s.rescaled(5000, usize::MAX).milestones[0],
            (2000u128 * usize::MAX as u128 / 5000) as usize
        );
        let mut l = LossSchedule {
            ssim_from: Some(1000),
            charbonnier: false,
        };
        assert_eq!(
            (l.term(999), l.term(1000)),
            (DataTerm::Mse, DataTerm::OneMinusSsim)
        );
        l.charbonnier = true;
        assert_eq!(
            (l.term(999), l.term(1000)),
            (DataTerm::Charbonnier, DataTerm::OneMinusSsim)
        );
    }
}
