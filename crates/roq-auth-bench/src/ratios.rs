//! The comparisons `scripts/bench-ratios` prints: each as a ratio of
//! roq-auth's median to its reference's, both measured in the same run.

use std::path::Path;

/// A benchmark of `benches/auth.rs` or `benches/revocation.rs`, named by its criterion group and id.
#[derive(Clone, Copy, Debug)]
pub struct Bench {
    /// The criterion group.
    pub group: &'static str,
    /// The benchmark id within the group.
    pub id: &'static str,
}

const fn bench(group: &'static str, id: &'static str) -> Bench {
    Bench { group, id }
}

/// A cost: one benchmark's median, or what a benchmark adds to a baseline.
#[derive(Clone, Copy, Debug)]
pub enum Cost {
    /// The median of one benchmark.
    Median(Bench),
    /// The median of the first benchmark minus that of the second.
    Added(Bench, Bench),
}

/// A bound on a ratio.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    /// The ratio must be at most this.
    AtMost(f64),
    /// The ratio must be at least this.
    AtLeast(f64),
    /// Measured for the record, without a bound.
    None,
}

impl Target {
    /// Returns whether `ratio` meets the bound.
    pub fn is_met(self, ratio: f64) -> bool {
        match self {
            Target::AtMost(bound) => ratio <= bound,
            Target::AtLeast(bound) => ratio >= bound,
            Target::None => true,
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::AtMost(bound) => write!(f, "<= {bound}"),
            Target::AtLeast(bound) => write!(f, ">= {bound}"),
            Target::None => f.write_str("none"),
        }
    }
}

/// One comparison: roq-auth's cost divided by its reference's.
#[derive(Clone, Copy, Debug)]
pub struct Comparison {
    /// The name printed before the ratio.
    pub name: &'static str,
    /// roq-auth's cost.
    pub ours: Cost,
    /// The reference cost.
    pub reference: Cost,
    /// The bound the ratio must meet.
    pub target: Target,
}

const AXUM_UNGUARDED: Bench = bench("guard", "axum_unguarded");
const AXUM_LOGIN: Bench = bench("guard", "axum_login");

const FIRST_SIGHT_ACTIVE_CACHE: Bench = bench("unseal", "roq_first_sight_active_cache");

/// Every comparison measured by `benches/auth.rs`.
pub const COMPARISONS: [Comparison; 10] = [
    Comparison {
        name: "unseal_first_sight/floor",
        ours: Cost::Median(bench("unseal", "roq_first_sight")),
        reference: Cost::Median(bench("unseal", "floor")),
        target: Target::AtMost(1.0),
    },
    Comparison {
        name: "unseal_first_sight/private_jar",
        ours: Cost::Median(bench("unseal", "roq_first_sight")),
        reference: Cost::Median(bench("unseal", "private_jar")),
        target: Target::AtMost(0.5),
    },
    Comparison {
        name: "unseal_first_sight_active_cache/floor",
        ours: Cost::Median(FIRST_SIGHT_ACTIVE_CACHE),
        reference: Cost::Median(bench("unseal", "floor")),
        target: Target::AtMost(1.0),
    },
    Comparison {
        name: "unseal_first_sight_active_cache/private_jar",
        ours: Cost::Median(FIRST_SIGHT_ACTIVE_CACHE),
        reference: Cost::Median(bench("unseal", "private_jar")),
        target: Target::AtMost(0.5),
    },
    Comparison {
        name: "unseal_first_sight_no_eviction/private_jar",
        ours: Cost::Median(bench("unseal", "roq_first_sight_no_eviction")),
        reference: Cost::Median(bench("unseal", "private_jar")),
        target: Target::None,
    },
    Comparison {
        name: "guard_repeat_axum/axum_login",
        ours: Cost::Added(bench("guard", "axum_roq"), AXUM_UNGUARDED),
        reference: Cost::Added(AXUM_LOGIN, AXUM_UNGUARDED),
        target: Target::AtMost(0.15),
    },
    Comparison {
        name: "guard_repeat_actix/axum_login",
        ours: Cost::Added(
            bench("guard", "actix_roq"),
            bench("guard", "actix_unguarded"),
        ),
        reference: Cost::Added(AXUM_LOGIN, AXUM_UNGUARDED),
        target: Target::AtMost(0.15),
    },
    Comparison {
        name: "session_hit/axum_login",
        ours: Cost::Median(bench("guard", "roq_session_hit")),
        reference: Cost::Added(AXUM_LOGIN, AXUM_UNGUARDED),
        target: Target::None,
    },
    Comparison {
        name: "callback/rs256_verify",
        ours: Cost::Added(
            bench("callback", "roq_callback"),
            bench("callback", "token_round_trip"),
        ),
        reference: Cost::Median(bench("callback", "rs256_verify")),
        target: Target::AtMost(1.5),
    },
    Comparison {
        name: "seal/floor",
        ours: Cost::Median(bench("seal", "roq")),
        reference: Cost::Median(bench("seal", "floor")),
        target: Target::None,
    },
];

/// The revocation check that runs on every request reading a session, from
/// `benches/revocation.rs`: the three keys of one session looked up in the
/// memory store holding 100,000 other revocations, and in the Redis store
/// over loopback. They have no target; the floor, what reading a session
/// costs the peers, puts them in scale.
pub const REVOCATION: [Comparison; 2] = [
    Comparison {
        name: "revocation_memory/floor",
        ours: Cost::Median(bench("revocation", "memory_100k")),
        reference: Cost::Median(bench("unseal", "floor")),
        target: Target::None,
    },
    Comparison {
        name: "revocation_redis/floor",
        ours: Cost::Median(bench("revocation", "redis_loopback")),
        reference: Cost::Median(bench("unseal", "floor")),
        target: Target::None,
    },
];

/// Reads the median of `bench` in nanoseconds from criterion's
/// `<dir>/<group>/<id>/new/estimates.json`.
///
/// # Errors
///
/// A message naming the file when it is missing or unreadable.
pub fn median_ns(dir: &Path, bench: Bench) -> Result<f64, String> {
    let path = dir
        .join(bench.group)
        .join(bench.id)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let estimates: serde_json::Value = serde_json::from_str(&text)
        .map_err(|err| format!("{} is not JSON: {err}", path.display()))?;
    estimates["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{} has no median.point_estimate", path.display()))
}

/// Returns the cost in nanoseconds.
///
/// # Errors
///
/// When a benchmark's estimates cannot be read.
pub fn cost_ns(dir: &Path, cost: Cost) -> Result<f64, String> {
    match cost {
        Cost::Median(bench) => median_ns(dir, bench),
        Cost::Added(total, baseline) => Ok(median_ns(dir, total)? - median_ns(dir, baseline)?),
    }
}

/// A comparison's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The comparison's name.
    pub name: &'static str,
    /// roq-auth's cost in nanoseconds.
    pub ours_ns: f64,
    /// The reference cost in nanoseconds.
    pub reference_ns: f64,
    /// The bound.
    pub target: Target,
}

impl Outcome {
    /// roq-auth's cost divided by the reference's.
    pub fn ratio(&self) -> f64 {
        self.ours_ns / self.reference_ns
    }
}

/// Computes every comparison from criterion's output in `dir`.
///
/// # Errors
///
/// When a benchmark's estimates cannot be read.
pub fn criterion_outcomes(dir: &Path) -> Result<Vec<Outcome>, String> {
    COMPARISONS
        .iter()
        .map(|comparison| outcome(dir, comparison))
        .collect()
}

/// Returns the result of one comparison from criterion's estimates in
/// `dir`.
///
/// # Errors
///
/// When a benchmark's estimates cannot be read.
pub fn outcome(dir: &Path, comparison: &Comparison) -> Result<Outcome, String> {
    Ok(Outcome {
        name: comparison.name,
        ours_ns: cost_ns(dir, comparison.ours)?,
        reference_ns: cost_ns(dir, comparison.reference)?,
        target: comparison.target,
    })
}

/// The result of one wrk run.
#[derive(Clone, Debug, PartialEq)]
pub struct WrkRun {
    /// Requests per second.
    pub requests_per_second: f64,
    /// Requests that got a status outside 2xx and 3xx.
    pub non_success: u64,
    /// Connect, read, write and timeout errors.
    pub socket_errors: u64,
}

/// Parses wrk's report.
///
/// # Errors
///
/// When the report has no `Requests/sec:` line.
pub fn parse_wrk(report: &str) -> Result<WrkRun, String> {
    let mut run = WrkRun {
        requests_per_second: f64::NAN,
        non_success: 0,
        socket_errors: 0,
    };
    for line in report.lines().map(str::trim) {
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            run.requests_per_second = rate
                .trim()
                .parse()
                .map_err(|_| format!("unreadable wrk line {line:?}"))?;
        } else if let Some(count) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.non_success = count.trim().parse().unwrap_or(u64::MAX);
        } else if let Some(errors) = line.strip_prefix("Socket errors:") {
            run.socket_errors = errors
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
    }
    if run.requests_per_second.is_nan() {
        return Err(format!("wrk printed no Requests/sec line:\n{report}"));
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_report_with_errors() {
        let report = "Running 5s test @ http://127.0.0.1:1/api/me
  1 threads and 16 connections
  120000 requests in 5.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec:  24000.50
Transfer/sec:      6.00MB
";
        let run = parse_wrk(report).unwrap();
        assert_eq!(run.requests_per_second, 24000.5);
        assert_eq!(run.non_success, 12);
        assert_eq!(run.socket_errors, 3);
    }

    #[test]
    fn wrk_report_without_rate_is_rejected() {
        assert!(parse_wrk("unable to connect to 127.0.0.1:1").is_err());
    }

    #[test]
    fn targets_bound_ratios() {
        assert!(Target::AtMost(0.5).is_met(0.5));
        assert!(!Target::AtMost(0.5).is_met(0.51));
        assert!(Target::AtLeast(0.95).is_met(0.97));
        assert!(!Target::AtLeast(0.95).is_met(0.9));
    }
}
