//! Is the share of violations inside tool windows more than chance would give?

/// P(K >= k) for K the number of successes of independent trials with probabilities `p`
/// (Poisson-binomial; exact by dynamic programming up to 5,000 trials, beyond that the binomial
/// with the mean probability, summed in log space).
pub fn upper_tail(p: &[f64], k: usize) -> f64 {
    let n = p.len();
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if n <= 5000 {
        // dist[j] = P(j successes so far).
        let mut dist = vec![0.0f64; n + 1];
        dist[0] = 1.0;
        for (i, &pi) in p.iter().enumerate() {
            let pi = pi.clamp(0.0, 1.0);
            for j in (1..=i + 1).rev() {
                dist[j] = dist[j] * (1.0 - pi) + dist[j - 1] * pi;
            }
            dist[0] *= 1.0 - pi;
        }
        return dist[k..].iter().sum::<f64>().min(1.0);
    }
    let mean = p.iter().sum::<f64>() / n as f64;
    binomial_tail(n, k, mean)
}

/// P(K >= k), K ~ Binomial(n, p), summed in log space.
pub fn binomial_tail(n: usize, k: usize, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let terms: Vec<f64> = (k..=n)
        .map(|j| ln_choose(n, j) + j as f64 * lp + (n - j) as f64 * lq)
        .collect();
    let max = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    (max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln())
        .exp()
        .min(1.0)
}

fn ln_choose(n: usize, k: usize) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

fn ln_factorial(n: usize) -> f64 {
    if n < 2 {
        return 0.0;
    }
    if n < 256 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    // Stirling with two correction terms (error < 1e-10 here).
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x * x)
}

/// A small deterministic generator (splitmix64): the same report for the same data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Merged, sorted intervals: is `t` inside one?
pub fn inside(intervals: &[(i64, i64)], t: i64) -> bool {
    let i = intervals.partition_point(|iv| iv.0 <= t);
    i > 0 && intervals[i - 1].1 >= t
}

/// Merged, sorted intervals: does one meet [a, b]?
pub fn overlaps(intervals: &[(i64, i64)], a: i64, b: i64) -> bool {
    let i = intervals.partition_point(|iv| iv.0 <= b);
    i > 0 && intervals[i - 1].1 >= a
}

/// Sort and merge intervals.
pub fn merge(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// One host's data for the shift test: its observed period, its merged windows, the violation times.
pub struct HostSeries {
    pub period: (i64, i64),
    pub windows: Vec<(i64, i64)>,
    /// Each violation's time and the width of its time stamp (whole-second stamps cover a second).
    pub times: Vec<(i64, i64)>,
}

/// Circular-shift test: each host's violation times are shifted together by a random offset
/// (wrapping around the host's period), which keeps their clustering and the windows' layout
/// while breaking any tie between them. Returns (shifts at least as extreme as observed, shifts).
pub fn circular_shift(
    series: &[HostSeries],
    observed: usize,
    shifts: usize,
    rng: &mut Rng,
) -> (usize, usize) {
    let mut extreme = 0;
    for _ in 0..shifts {
        let mut count = 0;
        for s in series {
            let len = (s.period.1 - s.period.0).max(1);
            let delta = rng.below(len as u64) as i64;
            for &(t, w) in &s.times {
                let shifted = s.period.0 + (t - s.period.0 + delta).rem_euclid(len);
                count += usize::from(overlaps(&s.windows, shifted, shifted + w));
            }
        }
        if count >= observed {
            extreme += 1;
        }
    }
    (extreme, shifts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_agree_with_closed_forms() {
        // P(K >= 41), n = 43, p = 0.06: sum of three terms.
        let (n, p) = (43usize, 0.06f64);
        let exact: f64 = (41..=43)
            .map(|j| ln_choose(n, j).exp() * p.powi(j as i32) * (1.0 - p).powi((n - j) as i32))
            .sum();
        let dp = upper_tail(&vec![p; n], 41);
        assert!((dp / exact - 1.0).abs() < 1e-9, "{dp} vs {exact}");
        assert!((binomial_tail(n, 41, p) / exact - 1.0).abs() < 1e-9);
        assert!(dp < 1e-12);
        assert!((upper_tail(&[0.5; 10], 5) - 0.623046875).abs() < 1e-12);
        assert_eq!(upper_tail(&[0.5; 3], 0), 1.0);
        assert_eq!(upper_tail(&[0.5; 3], 4), 0.0);
        // Log-space binomial on many trials matches the DP on the boundary size.
        let big = vec![0.1; 5000];
        assert!((upper_tail(&big, 520) / binomial_tail(5000, 520, 0.1) - 1.0).abs() < 1e-6);
        assert!((ln_factorial(300) - (2..=300).map(|i| (i as f64).ln()).sum::<f64>()).abs() < 1e-8);
    }

    #[test]
    fn intervals_and_shifts() {
        let w = merge(vec![(10, 20), (15, 30), (40, 50)]);
        assert_eq!(w, vec![(10, 30), (40, 50)]);
        assert!(overlaps(&w, 31, 40) && !overlaps(&w, 31, 39) && overlaps(&w, 0, 10));
        assert!(
            inside(&w, 10) && inside(&w, 30) && !inside(&w, 35) && inside(&w, 45) && !inside(&w, 5)
        );
        // Times all inside windows covering 10% of the period: shifts rarely match.
        let s = HostSeries {
            period: (0, 1000),
            windows: vec![(0, 100)],
            times: (0..20).map(|i| (i * 5, 0)).collect(),
        };
        let (extreme, n) = circular_shift(&[s], 20, 999, &mut Rng::new(1));
        assert_eq!(n, 999);
        assert!(extreme < 150, "{extreme}");
        // Times spread uniformly: about half the shifts put as many inside.
        let s = HostSeries {
            period: (0, 1000),
            windows: vec![(0, 500)],
            times: (0..20).map(|i| (i * 50, 0)).collect(),
        };
        let (extreme, _) = circular_shift(&[s], 10, 999, &mut Rng::new(1));
        assert!(extreme > 400, "{extreme}");
    }
}
