//! Prints each comparison of the benchmarks as `<name> <ratio>`, where the
//! ratio is roq-auth's cost divided by its reference's, then runs the load
//! comparison with wrk. Details and targets go to standard error.
//!
//! ```text
//! bench-ratios [--criterion-dir DIR] [--load-seconds N] [--load-rounds N] [--skip-load]
//! ```
//!
//! `--criterion-dir` is where `cargo bench` wrote its results (default:
//! `$CRITERION_HOME`, else `target/criterion`). `scripts/bench-ratios` runs
//! the benchmarks and then this.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use roq_auth_bench::apps;
use roq_auth_bench::ratios::{self, Outcome, Target, WrkRun};

/// wrk's connections: enough to keep the server's two workers busy.
const WRK_CONNECTIONS: u32 = 16;

struct Options {
    criterion_dir: PathBuf,
    load_seconds: u32,
    load_rounds: u32,
    skip_load: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        criterion_dir: std::env::var_os("CRITERION_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/criterion")),
        load_seconds: 2,
        load_rounds: 5,
        skip_load: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--criterion-dir" => options.criterion_dir = PathBuf::from(value("--criterion-dir")?),
            "--load-seconds" => {
                options.load_seconds = value("--load-seconds")?
                    .parse()
                    .map_err(|_| "--load-seconds needs a whole number of seconds".to_owned())?
            }
            "--load-rounds" => {
                options.load_rounds = value("--load-rounds")?
                    .parse()
                    .map_err(|_| "--load-rounds needs a whole number".to_owned())?
            }
            "--skip-load" => options.skip_load = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };

    let outcomes = match ratios::criterion_outcomes(&options.criterion_dir) {
        Ok(outcomes) => outcomes,
        Err(message) => {
            eprintln!("error: {message}; run `cargo bench -p roq-auth-bench` first");
            return ExitCode::FAILURE;
        }
    };
    let mut all_met = true;
    for outcome in &outcomes {
        println!("{} {:.3}", outcome.name, outcome.ratio());
        all_met &= report(outcome);
    }
    // `scripts/bench-ratios` deletes these estimates before it runs the
    // revocation benchmarks, so a failed run cannot report old numbers.
    for comparison in &ratios::REVOCATION {
        match ratios::outcome(&options.criterion_dir, comparison) {
            Ok(outcome) => {
                println!("{} {:.3}", outcome.name, outcome.ratio());
                report(&outcome);
            }
            Err(message) => {
                println!("{} skipped", comparison.name);
                eprintln!("  {}: skipped, {message}", comparison.name);
            }
        }
    }

    if options.skip_load {
        println!("load_rps/unguarded skipped");
        eprintln!("  load_rps/unguarded: skipped (--skip-load)");
    } else {
        match load(options.load_seconds, options.load_rounds) {
            Ok(met) => all_met &= met,
            Err(message) => {
                println!("load_rps/unguarded skipped");
                eprintln!("  load_rps/unguarded: skipped, {message}");
            }
        }
    }

    if all_met {
        eprintln!("every target is met");
    } else {
        eprintln!("some targets are missed");
    }
    ExitCode::SUCCESS
}

/// Prints the detail of one comparison and returns whether it meets its
/// target.
fn report(outcome: &Outcome) -> bool {
    let met = outcome.target.is_met(outcome.ratio());
    eprintln!(
        "  {}: ours {:.0} ns, reference {:.0} ns, target {}: {}",
        outcome.name,
        outcome.ours_ns,
        outcome.reference_ns,
        outcome.target,
        if met { "met" } else { "MISSED" }
    );
    met
}

/// Serves the load app on 127.0.0.1 and runs wrk against the guarded and
/// the unguarded route in turn, `rounds` times each. Returns whether the
/// target is met.
fn load(seconds: u32, rounds: u32) -> Result<bool, String> {
    if rounds == 0 || seconds == 0 {
        return Err("--load-rounds and --load-seconds must be at least 1".to_owned());
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err("wrk is not installed (apt-get install -y wrk)".to_owned());
    }

    // The demo's runtime: one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start a runtime: {err}"))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .map_err(|err| format!("cannot listen on 127.0.0.1: {err}"))?;
    let address = listener
        .local_addr()
        .map_err(|err| format!("no local address: {err}"))?;
    let auth = apps::auth();
    let cookie = apps::session_cookie(&auth);
    runtime.spawn(async move {
        if let Err(err) = axum::serve(listener, apps::axum_load_app(auth)).await {
            eprintln!("error: the load server stopped: {err}");
        }
    });

    let guarded = format!("http://{address}{}", apps::ME_PATH);
    let unguarded = format!("http://{address}/api/public-me");
    // A short run of each warms the connections and the session cache.
    wrk(&guarded, &cookie, 1)?;
    wrk(&unguarded, &cookie, 1)?;

    // Each round measures both routes, in alternating order, and yields one
    // ratio. The median ratio resists a drift of the machine's speed and a
    // round disturbed by another process.
    let mut ratios = Vec::new();
    let mut guarded_total = 0.0;
    let mut unguarded_total = 0.0;
    let mut errors = 0;
    for round in 0..rounds {
        let (guarded_run, unguarded_run) = if round % 2 == 0 {
            let unguarded_run = wrk(&unguarded, &cookie, seconds)?;
            (wrk(&guarded, &cookie, seconds)?, unguarded_run)
        } else {
            let guarded_run = wrk(&guarded, &cookie, seconds)?;
            (guarded_run, wrk(&unguarded, &cookie, seconds)?)
        };
        ratios.push(guarded_run.requests_per_second / unguarded_run.requests_per_second);
        guarded_total += guarded_run.requests_per_second;
        unguarded_total += unguarded_run.requests_per_second;
        errors += guarded_run.non_success
            + guarded_run.socket_errors
            + unguarded_run.non_success
            + unguarded_run.socket_errors;
    }
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];

    let target = Target::AtLeast(0.95);
    let met = target.is_met(ratio) && errors == 0;
    println!("load_rps/unguarded {ratio:.3}");
    eprintln!(
        "  load_rps/unguarded: guarded {:.0} req/s, unguarded {:.0} req/s (means of {rounds} rounds of {seconds} s, wrk -t1 -c{WRK_CONNECTIONS}), median ratio of the rounds, {errors} errors, target {target} and no errors: {}",
        guarded_total / f64::from(rounds),
        unguarded_total / f64::from(rounds),
        if met { "met" } else { "MISSED" }
    );
    drop(runtime);
    Ok(met)
}

fn wrk(url: &str, cookie: &str, seconds: u32) -> Result<WrkRun, String> {
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{WRK_CONNECTIONS}"),
            &format!("-d{seconds}s"),
        ])
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(url)
        .output()
        .map_err(|err| format!("cannot run wrk: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    ratios::parse_wrk(&String::from_utf8_lossy(&output.stdout))
}
