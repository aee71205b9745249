//! Parsing rsync's server argv (design §8, anchors §C1):
//! `--server --sender -CLUSTER [long options] . PATH...`, and the
//! protected-args list that replaces everything after the cluster.
//!
//! The result is canonical: long options as `--name=value`, so what rsync
//! finally sees is exactly what was checked.

use super::Refusal;
use super::policy::{self, Rule};

/// The most paths one pull may name.
const MAX_PATHS: usize = 256;

/// A checked request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The cluster's letters before its `e` tail (without `s`).
    pub letters: Vec<u8>,
    /// The `e` tail after the `e`: protocol and capability flags.
    pub caps: Vec<u8>,
    /// `s` was in the cluster: the rest comes from stdin.
    pub protected: bool,
    /// Long and numeric options, canonical.
    pub options: Vec<Vec<u8>>,
    /// The source paths (after `.`), unchecked against views yet.
    pub paths: Vec<Vec<u8>>,
}

impl Request {
    /// The cluster as it was given, for the audit line.
    pub fn cluster(&self) -> String {
        let s = if self.protected { "s" } else { "" };
        format!(
            "-{s}{}e{}",
            String::from_utf8_lossy(&self.letters),
            String::from_utf8_lossy(&self.caps)
        )
    }

    /// rsync's argv (without argv[0]): the cluster without `s`, the
    /// options, then `extra` (the shim's own), `.` and the paths.
    pub fn rsync_args(&self, extra: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut cluster = b"-".to_vec();
        cluster.extend_from_slice(&self.letters);
        cluster.push(b'e');
        cluster.extend_from_slice(&self.caps);
        let mut out = vec![b"--server".to_vec(), b"--sender".to_vec(), cluster];
        out.extend(self.options.iter().cloned());
        out.extend(extra.iter().cloned());
        out.push(b".".to_vec());
        out.extend(self.paths.iter().cloned());
        out
    }
}

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

/// Parses sudo's argv after the program name.
pub fn parse_argv(args: &[Vec<u8>]) -> Result<Request, Refusal> {
    match args {
        [a, b, ..] if a == b"--server" && b == b"--sender" => {}
        [a, ..] if a == b"--server" => {
            return refuse("not a pull: --sender must follow --server (a restore or push)");
        }
        _ => return refuse("not an rsync server sender: the line must start --server --sender"),
    }
    let Some(cluster) = args.get(2) else {
        return refuse("no option cluster after --server --sender");
    };
    let mut req = parse_cluster(cluster)?;
    let rest = parse_tail(&mut req, &args[3..])?;
    if req.protected {
        if !rest.is_empty() {
            return refuse("arguments after the options although s (protected args) is set");
        }
    } else {
        req.paths = dot_and_paths(rest)?;
    }
    Ok(req)
}

/// Adds the protected-args list (read from stdin) to `req`: a program
/// name, options, `.`, paths.
pub fn parse_protected(req: &mut Request, list: &[Vec<u8>]) -> Result<(), Refusal> {
    let Some((name, rest)) = list.split_first() else {
        return refuse("empty protected-args list");
    };
    if name.is_empty() || name.starts_with(b"-") {
        return refuse("the protected-args list does not start with a program name");
    }
    let rest = parse_tail(req, rest)?;
    req.paths = dot_and_paths(rest)?;
    Ok(())
}

/// `-LETTERSe<proto>.<caps>`.
fn parse_cluster(arg: &[u8]) -> Result<Request, Refusal> {
    let Some(body) = arg.strip_prefix(b"-").filter(|b| !b.starts_with(b"-")) else {
        // A forbidden long option here gets its own reason.
        let name = arg
            .strip_prefix(b"--")
            .map(|n| n.split(|&c| c == b'=').next().unwrap_or(n));
        if let Some(Err(why)) = name
            .and_then(|n| std::str::from_utf8(n).ok())
            .map(policy::long_rule)
        {
            return refuse(format!("{why} (where the option cluster belongs)"));
        }
        return refuse("the third argument must be the short-option cluster");
    };
    let Some(e) = body.iter().position(|&c| c == b'e') else {
        return refuse("the option cluster has no e<protocol>.<capabilities> tail");
    };
    let (letters, caps) = (&body[..e], &body[e + 1..]);
    let mut req = Request {
        caps: caps.to_vec(),
        ..Request::default()
    };
    // Letters first: an option smuggled after a forbidden letter
    // (`-M--log-file=…`) is named as that letter.
    for &c in letters {
        if c == b's' {
            if req.protected {
                return refuse("s twice in the option cluster");
            }
            req.protected = true;
        } else if policy::SHORT_ALLOWED.contains(&c) {
            req.letters.push(c);
        } else {
            return refuse(policy::short_refusal(c));
        }
    }
    if !valid_caps(caps) {
        return refuse(format!(
            "malformed capability tail e{}",
            String::from_utf8_lossy(caps).escape_debug()
        ));
    }
    Ok(req)
}

/// `.` or `PROTO.SUB`, then capability letters (compat.c CF_*).
fn valid_caps(caps: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let p = digits(caps);
    let Some(b'.') = caps.get(p) else {
        return false;
    };
    let rest = &caps[p + 1..];
    let s = if p > 0 { digits(rest) } else { 0 };
    rest[s..].iter().all(u8::is_ascii_alphabetic)
}

/// Long and numeric options until the first other argument; returns the
/// remainder.
fn parse_tail<'a>(req: &mut Request, mut args: &'a [Vec<u8>]) -> Result<&'a [Vec<u8>], Refusal> {
    while let Some((arg, rest)) = args.split_first() {
        if let Some(body) = arg.strip_prefix(b"--") {
            args = long_option(req, body, rest)?;
        } else if let Some(n) = numeric_option(arg) {
            req.options.push(n);
            args = rest;
        } else if arg.starts_with(b"-") {
            return refuse(format!(
                "a second option cluster {}",
                String::from_utf8_lossy(arg).escape_debug()
            ));
        } else {
            return Ok(args);
        }
    }
    Ok(args)
}

/// `-B<n>` (block size) and `-@<n>` (modify window), as rsync sends them.
fn numeric_option(arg: &[u8]) -> Option<Vec<u8>> {
    let body = arg
        .strip_prefix(b"-B")
        .or_else(|| arg.strip_prefix(b"-@"))?;
    let digits = body.strip_prefix(b"-").unwrap_or(body);
    let ok = !digits.is_empty() && digits.len() <= 10 && digits.iter().all(u8::is_ascii_digit);
    ok.then(|| arg.to_vec())
}

fn long_option<'a>(
    req: &mut Request,
    body: &[u8],
    rest: &'a [Vec<u8>],
) -> Result<&'a [Vec<u8>], Refusal> {
    let (name, inline) = match body.iter().position(|&c| c == b'=') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let Ok(name) = std::str::from_utf8(name) else {
        return refuse("an option name that is not text");
    };
    if name.is_empty() {
        return refuse("a bare -- in the arguments");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return refuse(format!("unknown option --{}", name.escape_debug()));
    }
    let rule = policy::long_rule(name).map_err(Refusal)?;
    let (value, rest) = match (rule, inline) {
        (Rule::Flag, None) => (None, rest),
        (Rule::Flag, Some(_)) => return refuse(format!("--{name} takes no value")),
        (_, Some(v)) => (Some(v), rest),
        (_, None) => match rest.split_first() {
            Some((v, r)) => (Some(v.as_slice()), r),
            None => return refuse(format!("--{name} needs a value")),
        },
    };
    let mut canonical = format!("--{name}").into_bytes();
    if let Some(v) = value {
        match rule {
            Rule::Dash if v != b"-" => {
                return refuse(format!(
                    "--{name} with a server-side file (only - is accepted)"
                ));
            }
            _ if v.is_empty() || v.iter().any(|&c| c < 0x20 || c == 0x7f) => {
                return refuse(format!("--{name} with an empty or control-character value"));
            }
            _ => {}
        }
        canonical.push(b'=');
        canonical.extend_from_slice(v);
    }
    req.options.push(canonical);
    Ok(rest)
}

/// `.` then at least one path.
fn dot_and_paths(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, Refusal> {
    match args.split_first() {
        Some((dot, paths)) if dot == b"." => {
            if paths.is_empty() {
                return refuse("no source path after .");
            }
            if paths.len() > MAX_PATHS {
                return refuse(format!("more than {MAX_PATHS} source paths"));
            }
            Ok(paths.to_vec())
        }
        Some((other, _)) => refuse(format!(
            "expected . before the paths, found {}",
            String::from_utf8_lossy(other).escape_debug()
        )),
        None => refuse("no . and source path"),
    }
}
