//! The library's module structure: no import circle between modules, and
//! nothing under `manager/` (which the rsync shim builds on) reaches into
//! the FUSE code in `view/`.
//!
//! Reads `src/**/*.rs` (not `src/bin/`, another crate): `use crate::…` and
//! `use super::…` declarations at the top of each file, and `crate::…`
//! paths anywhere in the code. A name imported from a module that only
//! re-exports it (`pub use child::Name`) counts as an import of the module
//! that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Module path (`manager::health`, `""` for the crate root) -> its source.
type Modules = BTreeMap<String, String>;

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn modules(root: &Path) -> Modules {
    fn walk(root: &Path, dir: &Path, out: &mut Modules) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap();
            if rel.starts_with("bin") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut parts: Vec<String> = rel
                    .with_extension("")
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                    parts.pop();
                }
                out.insert(parts.join("::"), fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = Modules::new();
    walk(root, root, &mut out);
    out
}

/// Lines outside comments, with string literals blanked enough for our
/// purposes (a `crate::` inside a string is rare and harmless here).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

/// The `use` declarations starting at column 0, as single strings without
/// `use ` and `;` (visibility kept as a prefix flag).
fn top_level_uses(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut current: Option<(bool, String)> = None;
    for line in code_lines(text) {
        if let Some((_, acc)) = current.as_mut() {
            acc.push_str(line.trim());
        } else if let Some(rest) = line.strip_prefix("use ") {
            current = Some((false, rest.to_string()));
        } else if let Some(rest) = line
            .strip_prefix("pub use ")
            .or_else(|| line.strip_prefix("pub(crate) use "))
            .or_else(|| line.strip_prefix("pub(super) use "))
        {
            current = Some((true, rest.to_string()));
        }
        if current.as_ref().is_some_and(|(_, a)| a.ends_with(';')) {
            let (public, mut acc) = current.take().unwrap();
            acc.pop();
            out.push((public, acc));
        }
    }
    out
}

/// `a::{b::{C, D}, e as f}` -> `a::b::C`, `a::b::D`, `a::e`.
fn expand(tree: &str) -> Vec<String> {
    // Drop renames (`x as y`, `Trait as _`), then all blanks.
    let mut tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    while let Some(i) = tree.find(" as ") {
        let end = tree[i..].find([',', '}']).map_or(tree.len(), |e| i + e);
        tree.replace_range(i..end, "");
    }
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    fn go(prefix: &str, t: &str, out: &mut Vec<String>) {
        match t.find('{') {
            None => {
                let t = t.trim_end_matches("::self");
                if !t.is_empty() {
                    out.push(format!("{prefix}{t}"));
                }
            }
            Some(open) => {
                let head = &t[..open];
                let inner = &t[open + 1..t.len() - 1];
                let mut depth = 0;
                let mut start = 0;
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            go(&format!("{prefix}{head}"), &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                go(&format!("{prefix}{head}"), &inner[start..], out);
            }
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

fn parent(module: &str) -> String {
    module
        .rsplit_once("::")
        .map_or(String::new(), |(p, _)| p.into())
}

fn join(module: &str, name: &str) -> String {
    if module.is_empty() {
        name.into()
    } else {
        format!("{module}::{name}")
    }
}

/// The module a path (`crate::a::b::Item`, relative to `from`) lands in:
/// the longest prefix that is a module, following re-exports.
fn resolve(path: &str, from: &str, mods: &Modules, depth: usize) -> Option<String> {
    let mut segs = path.split("::");
    let mut module = match segs.next()? {
        "crate" => String::new(),
        "super" => parent(from),
        "self" => from.to_string(),
        _ => return None, // another crate or std
    };
    let mut rest: Vec<&str> = segs.collect();
    while let Some(&first) = rest.first() {
        if first == "super" {
            module = parent(&module);
        } else if mods.contains_key(&join(&module, first)) {
            module = join(&module, first);
        } else {
            break;
        }
        rest.remove(0);
    }
    if let (Some(&item), true) = (rest.first(), depth < 8) {
        for (public, tree) in top_level_uses(&mods[&module]) {
            if !public {
                continue;
            }
            for p in expand(&tree) {
                if p.rsplit("::").next() == Some(item) {
                    let p = if p.starts_with("crate::")
                        || p.starts_with("super::")
                        || p.starts_with("self::")
                    {
                        p
                    } else {
                        format!("self::{p}")
                    };
                    if let Some(m) = resolve(&p, &module, mods, depth + 1) {
                        return Some(m);
                    }
                }
            }
        }
    }
    Some(module)
}

/// module -> the modules it imports from (itself and std left out).
fn import_graph(mods: &Modules) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (module, text) in mods {
        let mut paths: Vec<String> = top_level_uses(text)
            .into_iter()
            .flat_map(|(_, t)| expand(&t))
            .filter(|p| !p.starts_with("self::") || p.contains("::"))
            .map(|p| {
                if p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::") {
                    p
                } else {
                    // `use child::Item;`: relative to this module.
                    format!("self::{p}")
                }
            })
            .collect();
        for line in code_lines(text) {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(tail.len());
                paths.push(tail[..end].trim_end_matches(':').to_string());
                rest = &tail[end..];
            }
        }
        // A private child module (`mod listing;`) is its parent's code in
        // another file: its imports of the parent's items are not a circle.
        let private_child = module.rsplit_once("::").is_some_and(|(p, name)| {
            mods.get(p)
                .is_some_and(|t| t.lines().any(|l| l == format!("mod {name};")))
        });
        let up = parent(module);
        let targets: BTreeSet<String> = paths
            .iter()
            .filter_map(|p| resolve(p, module, mods, 0))
            .filter(|t| t != module && !t.is_empty())
            .filter(|t| !(private_child && *t == up))
            .collect();
        graph.insert(module.clone(), targets);
    }
    graph
}

/// Every import circle, each as `a -> b -> a`.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn dfs(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut BTreeSet<String>,
    ) {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut cycle: Vec<String> = stack[i..].to_vec();
            // One spelling per circle: start at its smallest module.
            let min = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap();
            cycle.rotate_left(min);
            cycle.push(cycle[0].clone());
            found.insert(cycle.join(" -> "));
            return;
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            dfs(next, graph, stack, done, found);
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut found = BTreeSet::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        dfs(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found.into_iter().collect()
}

#[test]
fn the_checker_sees_imports_and_reexports() {
    assert_eq!(
        expand("super::{a::{B, C}, d as e, f::self}"),
        ["super::a::B", "super::a::C", "super::d", "super::f"]
    );
    let mods: Modules = [
        ("", ""),
        ("m", "pub use inner::Thing;\n"),
        ("m::inner", "use crate::n::X;\n"),
        ("n", "use crate::m::Thing;\n"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let graph = import_graph(&mods);
    assert_eq!(graph["n"], BTreeSet::from(["m::inner".to_string()]));
    assert_eq!(circles(&graph), ["m::inner -> n -> m::inner"]);
}

#[test]
fn no_import_circle_between_modules() {
    let graph = import_graph(&modules(&source_root()));
    assert!(graph.contains_key("manager::health"), "{graph:?}");
    let found = circles(&graph);
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_manager_does_not_import_fuse_code() {
    let graph = import_graph(&modules(&source_root()));
    let bad: Vec<String> = graph
        .iter()
        .filter(|(m, _)| *m == "manager" || m.starts_with("manager::"))
        .flat_map(|(m, targets)| {
            targets
                .iter()
                .filter(|t| *t == "view" || t.starts_with("view::"))
                .map(move |t| format!("{m} -> {t}"))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "manager/ imports view/:\n{}",
        bad.join("\n")
    );
}
