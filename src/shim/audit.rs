//! One syslog line (facility auth) per decision (design §8.5): who, the
//! verdict and reason, the view, the paths and the option cluster.

use super::argv::Request;
use super::paths::show;
use super::privs::Caller;
use crate::log;

/// What is known about a request so far.
#[derive(Debug, Default)]
pub struct Decision {
    /// `name(uid)` of the caller.
    pub user: Option<String>,
    /// The option cluster as given.
    pub cluster: Option<String>,
    /// The source paths, escaped.
    pub paths: Vec<String>,
    /// The view, once found.
    pub view: Option<String>,
    /// Extra facts (the Landlock status).
    pub note: Option<String>,
}

impl Decision {
    /// Records the caller.
    pub fn caller(&mut self, c: &Caller) {
        self.user = Some(format!("{}({})", c.name, c.uid));
    }

    /// Records the parsed request.
    pub fn request(&mut self, r: &Request) {
        self.cluster = Some(r.cluster());
        self.paths = r.paths.iter().map(|p| show(p)).collect();
    }

    /// The log line for an allowed pull or a refusal (`Some(reason)`).
    pub fn line(&self, refused: Option<&str>) -> String {
        let verdict = match refused {
            Some(why) => format!("refused reason=\"{}\"", why.escape_debug()),
            None => "allowed".into(),
        };
        let mut line = format!(
            "user={} verdict={verdict} view={} cluster={} paths=[{}]",
            self.user.as_deref().unwrap_or("unknown"),
            self.view.as_deref().unwrap_or("-"),
            self.cluster.as_deref().unwrap_or("-"),
            self.paths.join(" "),
        );
        if let Some(n) = &self.note {
            line.push_str(&format!(" note=\"{n}\""));
        }
        line
    }

    /// Logs the decision.
    pub fn log(&self, refused: Option<&str>) {
        let line = self.line(refused);
        if refused.is_some() {
            log::warn(&line);
        } else {
            log::info(&line);
        }
    }
}
