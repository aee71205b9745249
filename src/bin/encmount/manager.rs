//! `up`, `down`, `status` and `check`: the views of the manager's yaml
//! (design §7). The work is in `encmount::manager`; this is options and
//! output.

use std::time::SystemTime;

use anyhow::{Result, bail};
use encmount::cli::manager::{CheckArgs, DownArgs, StatusArgs, UpArgs, Which, YamlArg};
use encmount::log;

use crate::out::{out, outln};
use encmount::manager::check::check_view;
use encmount::manager::deploy::{Deployment, check_deployment};
use encmount::manager::launch::foreground_command;
use encmount::manager::status::{self, ViewStatus};
use encmount::manager::{self, DownOutcome, ManagerConfig, Paths, UpOutcome, View};
use encmount::state::epoch_secs;

fn load(yaml: &YamlArg) -> Result<(Paths, ManagerConfig)> {
    let paths = Paths::from_env(yaml.file.as_deref())?;
    let config = manager::yaml::load(&paths.yaml)?;
    Ok((paths, config))
}

fn selected<'a>(config: &'a ManagerConfig, which: &Which) -> Result<Vec<&'a View>> {
    Ok(config.select(if which.all { &[] } else { &which.names })?)
}

/// Runs `f` on each view, logging failures; fails if any did.
fn each(views: &[&View], verb: &str, mut f: impl FnMut(&View) -> Result<()>) -> Result<()> {
    let results: Vec<Result<()>> = views.iter().map(|v| f(v)).collect();
    tally(views.len(), verb, results)
}

/// Runs `f` on every view at once, one thread each, so that a view that
/// hangs (a password program, a source on a dead NFS server) holds up
/// no other; failures are logged in the yaml's order.
fn each_parallel(
    views: &[&View],
    verb: &str,
    f: impl Fn(&View) -> Result<()> + Sync,
) -> Result<()> {
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = views.iter().map(|v| s.spawn(|| f(v))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("internal error: a thread panicked")))
            })
            .collect()
    });
    tally(views.len(), verb, results)
}

fn tally(total: usize, verb: &str, results: Vec<Result<()>>) -> Result<()> {
    let mut failed = 0;
    for r in results {
        if let Err(e) = r {
            // `ensure_up` has logged a failed mount already (for every
            // caller, the shim too): print each cause once.
            let logged = matches!(
                e.downcast_ref::<manager::ManagerError>(),
                Some(manager::ManagerError::Mount { .. })
            );
            if !logged {
                log::error(&encmount::report::error_line(e.as_ref()));
            }
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} of {total} views could not be {verb}");
    }
    Ok(())
}

pub fn up(a: &UpArgs) -> Result<()> {
    log::init("encmount", log::Facility::Daemon, true);
    let (paths, config) = load(&a.yaml)?;
    if a.foreground {
        let [name] = a.which.names.as_slice() else {
            bail!("--foreground runs exactly one view: give one NAME");
        };
        let views = config.select(std::slice::from_ref(name))?;
        // The view's lock passes to `encmount mount --foreground`, which
        // releases it once its mount is live.
        let err = foreground_command(views[0], &paths)?.exec();
        bail!("cannot run {}: {err}", paths.encmount_bin.display());
    }
    let mut views = selected(&config, &a.which)?;
    if a.which.all && !a.include_on_demand {
        views.retain(|v| !v.on_demand);
    }
    each_parallel(&views, "brought up", |v| {
        if let UpOutcome::AlreadyUp { pid } = manager::ensure_up(v, &paths)? {
            log::info(&format!("view {}: already up (pid {pid})", v.name));
        }
        Ok(())
    })
}

pub fn down(a: &DownArgs) -> Result<()> {
    log::init("encmount", log::Facility::Daemon, true);
    let (paths, config) = load(&a.yaml)?;
    let views = selected(&config, &a.which)?;
    each(&views, "brought down", |v| {
        if manager::down(v, &paths, a.lazy)? == DownOutcome::NotMounted {
            log::info(&format!("view {}: not mounted", v.name));
        }
        Ok(())
    })
}

pub fn status(a: &StatusArgs) -> Result<()> {
    log::init("encmount", log::Facility::Daemon, true);
    let (paths, config) = load(&a.yaml)?;
    let views = config.select(&a.names)?;
    let report = status::report(&config, &views, &paths);
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", table(&report.views))?;
    }
    Ok(())
}

/// The status table for people.
fn table(views: &[ViewStatus]) -> String {
    let now = epoch_secs(SystemTime::now());
    let dash = || "-".to_string();
    let mut rows = vec![
        [
            "VIEW",
            "STATE",
            "PID",
            "MOUNTPOINT",
            "SOURCE",
            "READERS",
            "ON-DEMAND",
            "LAST ACCESS",
            "SKIPPED",
        ]
        .map(String::from),
    ];
    for v in views {
        rows.push([
            v.name.clone(),
            v.health.to_string(),
            v.pid.map_or_else(dash, |p| p.to_string()),
            v.mountpoint.clone(),
            v.source.clone(),
            if v.readers.is_empty() {
                "root".into()
            } else {
                v.readers.join(",")
            },
            v.idle_timeout_secs.map_or("no".into(), |s| {
                format!(
                    "idle {}",
                    humantime::format_duration(std::time::Duration::from_secs(s))
                )
            }),
            v.last_access.map_or_else(dash, |t| {
                let ago = std::time::Duration::from_secs(now.saturating_sub(t));
                format!("{} ago", humantime::format_duration(ago))
            }),
            v.skipped_names.map_or_else(dash, |n| n.to_string()),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for v in views.iter().filter(|v| v.reason.is_some()) {
        if let Some(r) = &v.reason {
            out.push_str(&format!("{}: {} ({r})\n", v.name, v.health));
        }
    }
    out
}

pub fn check(a: &CheckArgs) -> Result<()> {
    log::init("encmount", log::Facility::Daemon, true);
    let (paths, config) = load(&a.yaml)?;
    outln!("{}: ok", config.file.display())?;
    let views = config.select(&a.names)?;
    let mut problems = 0;
    for v in &views {
        let findings = check_view(v, &paths);
        for f in &findings {
            if f.problem {
                problems += 1;
                encmount::report::print_error(
                    "encmount",
                    &format!("view {}: {}", f.view, f.message),
                );
            } else {
                outln!("view {}: note: {}", f.view, f.message)?;
            }
        }
        if !findings.iter().any(|f| f.problem) {
            outln!("view {}: ok", v.name)?;
        }
    }
    if !a.views_only {
        let findings = check_deployment(&config, &Deployment::system(&paths));
        for f in &findings {
            if f.problem {
                problems += 1;
                encmount::report::print_error("encmount", &format!("deployment: {}", f.message));
            } else {
                outln!("deployment: note: {}", f.message)?;
            }
        }
        if !findings.iter().any(|f| f.problem) {
            outln!("deployment: ok")?;
        }
    }
    if problems > 0 {
        bail!("check found {problems} problem(s)");
    }
    Ok(())
}
