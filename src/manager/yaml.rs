//! Reading the manager's yaml (design §7), in two steps: serde reads the
//! text into [`super::raw`] (strict), then [`super::validate`] checks what
//! serde cannot (paths, users, durations, overlaps) and fills in defaults.
//! Every error is a [`YamlError`] naming the file, the line and the view.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::config::ManagerConfig;
use super::error::YamlError;
use super::raw::RawFile;
use super::validate;

/// The largest yaml read (it is a short hand-written file).
const MAX_LEN: u64 = 1 << 20;

/// Reads, parses and checks the yaml at `file`.
pub fn load(file: &Path) -> Result<ManagerConfig, YamlError> {
    let err = |message: String| YamlError {
        file: file.to_path_buf(),
        line: None,
        view: None,
        message,
    };
    let f = File::open(file).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut text = String::new();
    f.take(MAX_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if text.len() as u64 > MAX_LEN {
        return Err(err(format!("larger than {MAX_LEN} bytes")));
    }
    parse(file, &text)
}

/// Parses and checks yaml `text` read from `file` (named in errors).
pub fn parse(file: &Path, text: &str) -> Result<ManagerConfig, YamlError> {
    let raw: RawFile = serde_yaml_ng::from_str(text).map_err(|e| serde_error(file, text, &e))?;
    validate::resolve(file, text, raw)
}

/// A serde error as a [`YamlError`]: the line from its location, the view
/// from its path (`views.NAME.field: message at line L column C`).
fn serde_error(file: &Path, text: &str, e: &serde_yaml_ng::Error) -> YamlError {
    let line = e.location().map(|l| l.line());
    let mut message = e.to_string();
    if let Some(l) = e.location() {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(m) = message.strip_suffix(&suffix) {
            message = m.to_string();
        }
    }
    let mut view = None;
    if let Some(rest) = message.strip_prefix("views.") {
        // View names may hold dots: take the longest name the file defines
        // that the path starts with.
        let names = view_names(text);
        let best = names
            .iter()
            .filter(|n| {
                rest.strip_prefix(n.as_str())
                    .is_some_and(|t| t.starts_with(['.', ':', '[']))
            })
            .max_by_key(|n| n.len());
        if let Some(n) = best {
            let tail = &rest[n.len()..];
            message = tail
                .strip_prefix('.')
                .or_else(|| tail.strip_prefix(": "))
                .unwrap_or(tail)
                .to_string();
            view = Some(n.clone());
        }
    }
    YamlError {
        file: file.to_path_buf(),
        line,
        view,
        message,
    }
}

/// The view names in `text`, as far as the document can be read.
fn view_names(text: &str) -> Vec<String> {
    let Ok(doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) else {
        return Vec::new();
    };
    doc.get("views")
        .and_then(|v| v.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
