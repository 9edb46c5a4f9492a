//! [`SimArgs`]: the simulator's command-line options, shared by `jumpwatch-sim` and
//! `jumpwatch sim`.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};

use crate::dataset::Size;
use crate::faults::Faults;
use crate::simulator::{Simulator, SimulatorBuilder};

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{e} (expected RFC 3339, e.g. 2026-01-01T00:00:00Z)"))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is not between 0 and 1"))
    }
}

/// How to run a simulator, as command-line options.
///
/// ```
/// use clap::Parser;
/// use jumpwatch_sim::SimArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     sim: SimArgs,
/// }
///
/// let cli = Cli::parse_from(["sim", "--seed", "7", "--size", "200x150", "--error-rate", "0.1"]);
/// assert_eq!(cli.sim.seed, 7);
/// let builder = cli.sim.builder(); // then .start().await
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, clap::Args)]
#[non_exhaustive]
pub struct SimArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// The seed of the tenant and of the faults.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// small (50 users, 40 systems), medium (5,000, 4,000), large (50,000, 40,000) or
    /// `<users>x<systems>` (e.g. 200x150).
    #[arg(long, default_value = "small")]
    pub size: Size,
    /// The API key clients must send (default: derived from the seed).
    #[arg(long, env = "JUMPWATCH_SIM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The number of organizations; with more than one, `x-org-id` is required.
    #[arg(long, default_value_t = 1)]
    pub orgs: usize,
    /// Fix the clock at this instant (RFC 3339) for reproducible responses; by default the clock
    /// starts at the real time.
    #[arg(long, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// The OAuth client id of `POST /oauth2/token` (default: derived from the seed).
    #[arg(long, env = "JUMPWATCH_SIM_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The OAuth client secret (default: derived from the seed).
    #[arg(long, env = "JUMPWATCH_SIM_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Random extra latency, up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_jitter_ms: u64,
    /// Share of requests (0 to 1) answered with a 5xx.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,
    /// Requests per second allowed (0: no limit).
    #[arg(long, default_value_t = 0.0)]
    pub rate_limit_per_sec: f64,
    /// Share of requests (0 to 1) that start a burst of 429s.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub burst_429_rate: f64,
    /// 429 responses carry Retry-After.
    #[arg(long)]
    pub retry_after: bool,
    /// Share of responses (0 to 1) whose connection is reset mid-body.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub reset_rate: f64,
    /// Share of responses (0 to 1) whose JSON is cut short.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub truncate_rate: f64,
    /// Share of full pages (0 to 1) that silently come back short.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub short_page_rate: f64,
    /// Items move between pages while a client pages.
    #[arg(long)]
    pub move_items: bool,
    /// Seconds the server's clock runs ahead (negative: behind).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub clock_skew_s: i64,
}

impl SimArgs {
    /// The fault settings of these options.
    #[must_use]
    pub fn faults(&self) -> Faults {
        let mut faults = Faults::default()
            .error_rate(self.error_rate)
            .rate_limit_per_sec(self.rate_limit_per_sec)
            .burst_429_rate(self.burst_429_rate)
            .reset_rate(self.reset_rate)
            .truncate_rate(self.truncate_rate)
            .short_page_rate(self.short_page_rate)
            .move_items(self.move_items)
            .clock_skew_s(self.clock_skew_s);
        faults.latency_ms = self.latency_ms;
        faults.latency_jitter_ms = self.latency_jitter_ms;
        faults.retry_after = self.retry_after;
        faults
    }

    /// A simulator builder with these options.
    pub fn builder(&self) -> SimulatorBuilder {
        let mut builder = Simulator::builder()
            .seed(self.seed)
            .size(self.size)
            .orgs(self.orgs)
            .listen(self.listen)
            .faults(self.faults());
        if let Some(now) = self.now {
            builder = builder.now(now);
        }
        if let Some(key) = &self.api_key {
            builder = builder.api_key(key.clone());
        }
        if let (Some(id), Some(secret)) = (&self.client_id, &self.client_secret) {
            builder = builder.oauth_client(id.clone(), secret.clone());
        }
        builder
    }
}

impl SimArgs {
    /// Starts a simulator with these options, writes its base URL, API key, OAuth client and
    /// organizations to `out`, and serves until `shutdown` completes. What `jumpwatch-sim` and
    /// `jumpwatch sim` run.
    pub async fn serve(
        &self,
        out: &mut dyn std::io::Write,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), crate::Error> {
        let sim = self.builder().start().await?;
        // The banner is the command's output; a closed stdout must not stop the server.
        let _ = writeln!(
            out,
            "jumpwatch-sim: a fake JumpCloud ({} tenant, seed {})",
            self.size, self.seed
        );
        let _ = writeln!(out, "base URL: {}", sim.base_url());
        let _ = writeln!(out, "API key:  {}", sim.api_key());
        let _ =
            writeln!(out, "OAuth:    client id {} secret {}", sim.client_id(), sim.client_secret());
        if sim.org_ids().len() > 1 {
            let orgs: Vec<&str> =
                sim.org_ids().iter().map(jumpwatch_model::OrganizationId::as_str).collect();
            let _ = writeln!(out, "orgs:     {} (send one in x-org-id)", orgs.join(", "));
        } else if let Some(org) = sim.org_ids().first() {
            let _ = writeln!(out, "org:      {org}");
        }
        let _ = writeln!(
            out,
            "admin:    {}/__sim/ (mutations, scenarios, faults, stats, reset)",
            sim.base_url()
        );
        if !sim.addr().ip().is_loopback() {
            let _ = writeln!(
                out,
                "warning:  listening beyond this machine; the admin API has no authentication"
            );
        }
        let _ = out.flush();
        shutdown.await;
        sim.shutdown().await;
        Ok(())
    }
}

/// Completes on Ctrl-C, or SIGTERM on Unix: how the binaries are stopped.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
