//! No import circle between the modules of a crate: `contracts`, `node` and `client` (every crate root
//! in their `src/`: `lib.rs`, `main.rs`, `bin/*.rs`) are read as a graph of their top-level modules, with
//! an edge `a → b` when code of `a` names `crate::b` (a `use`, a path in an expression, or a path in a
//! string such as serde's `with = "crate::…"`; `super::` and `self::` paths are resolved too). A folder
//! is one module, except the layer folders of `contracts` (`chain/`, `primitives/`), whose modules are
//! each a node (`chain::executor`), so that a circle through a layer is still seen. Comments and test
//! code (`#[cfg(test)]` items, `mod tests;` files) are left out: tests may import anything.
//!
//! Every strongly connected component of more than one module is a circle, and the test fails naming
//! it and where each of its edges comes from, unless it is exactly an entry of the crate's allow-list.
//! An allow-list entry that no longer matches a circle fails too, so the list stays the minimum.
//!
//! A reader of tokens, not a Rust parser: enough for how this workspace writes paths (a `mod NAME;`
//! must be in its file's top level; a `#[path]` is followed; a macro that builds a path from pieces is
//! not seen).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

/// A crate's source folder and what is allowed in it.
struct Crate {
    /// Relative to the workspace root.
    src: &'static str,
    /// Folders whose modules are each a node of the graph.
    layers: &'static [&'static str],
    /// Circles that are accepted, each exactly as the set of its modules.
    allowed: &'static [&'static [&'static str]],
}

const CRATES: &[Crate] = &[
    Crate {
        src: "contracts/src",
        layers: &["chain", "primitives"],
        // Real cross-contract calls, nothing else: governance's actions qualify and revoke wallet
        // hosts (governance → wallet) and allow, revoke and retire enclaves (governance →
        // enclave_registry); the wallet checks a caller's membership (wallet → governance) and a
        // payee's merchant record (wallet → registry); the registry checks a caller's membership
        // (registry → governance) and whether records are sealed (registry → enclave_registry); the
        // enclave registry binds an enclave to a member platform (enclave_registry → governance).
        // Governance approves and revokes platform CAs (governance → ca), the CA checks a
        // caller's membership (ca → governance).
        // Breaking it would take the consortium's membership (members, roles) out of governance
        // into a module of its own.
        allowed: &[&["ca", "enclave_registry", "governance", "registry", "wallet"]],
    },
    Crate {
        src: "node/src",
        layers: &[],
        allowed: &[],
    },
    Crate {
        src: "client/src",
        layers: &[],
        allowed: &[],
    },
];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
}

/// Tokens with their line; comments, numbers, char literals and lifetimes are dropped.
fn lex(src: &str) -> Vec<(Tok, usize)> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    // Reads a quoted string from `i` (at the opening quote) with `hashes` for a raw string.
    let string = |i: &mut usize, line: &mut usize, raw: Option<usize>| {
        let mut s = String::new();
        *i += 1;
        while *i < c.len() {
            let ch = c[*i];
            if ch == '\n' {
                *line += 1;
            }
            match raw {
                None if ch == '\\' => {
                    s.push(ch);
                    if let Some(&next) = c.get(*i + 1) {
                        s.push(next);
                    }
                    *i += 2;
                    continue;
                }
                None if ch == '"' => break,
                Some(h) if ch == '"' && (1..=h).all(|k| c.get(*i + k) == Some(&'#')) => {
                    *i += h;
                    break;
                }
                _ => s.push(ch),
            }
            *i += 1;
        }
        *i += 1;
        s
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if ch == '"' {
            let at = line;
            let s = string(&mut i, &mut line, None);
            out.push((Tok::Str(s), at));
        } else if ch == '\'' {
            // 'x' or '\n' is a char literal; 'a (no closing quote right after) a lifetime.
            if c.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
        } else if ident_char(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let hashes = c[i..].iter().take_while(|&&h| h == '#').count();
            if (word == "r" || word == "br") && c.get(i + hashes) == Some(&'"') {
                i += hashes;
                let at = line;
                let s = string(&mut i, &mut line, Some(hashes));
                out.push((Tok::Str(s), at));
            } else if word == "b" && c.get(i) == Some(&'"') {
                let at = line;
                let s = string(&mut i, &mut line, None);
                out.push((Tok::Str(s), at));
            } else if word == "r" && hashes == 1 {
                i += 1; // raw identifier r#name: the name follows
            } else {
                out.push((Tok::Ident(word), line));
            }
        } else {
            out.push((Tok::Punct(ch), line));
            i += 1;
        }
    }
    out
}

/// What one file says: the paths it names (absolute, from the crate root, with their line) and the
/// non-test modules it declares (name, `#[path]` if any), and its top-level `use`s of relative paths
/// (in a crate root, its re-exports of its own modules).
#[derive(Debug, Default)]
struct Scan {
    paths: Vec<(Vec<String>, usize)>,
    mods: Vec<(String, Option<String>)>,
    relative_uses: Vec<Vec<String>>,
}

fn is_punct(toks: &[(Tok, usize)], i: usize, ch: char) -> bool {
    matches!(toks.get(i), Some((Tok::Punct(p), _)) if *p == ch)
}

fn ident_at(toks: &[(Tok, usize)], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn is_path_sep(toks: &[(Tok, usize)], i: usize) -> bool {
    is_punct(toks, i, ':') && is_punct(toks, i + 1, ':')
}

/// Reads a path or use tree at `i` (after `crate::`, `super::`, ...): every full path it names,
/// relative to where it starts, and the index after it.
fn use_tree(toks: &[(Tok, usize)], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        if is_punct(toks, i, '{') {
            let mut all = Vec::new();
            i += 1;
            while i < toks.len() && !is_punct(toks, i, '}') {
                let (subs, next) = use_tree(toks, i);
                for s in subs {
                    all.push(prefix.iter().cloned().chain(s).collect());
                }
                i = next;
                if is_punct(toks, i, ',') {
                    i += 1;
                } else if !is_punct(toks, i, '}') {
                    break;
                }
            }
            return (all, i + 1);
        }
        match ident_at(toks, i) {
            // `{self, ...}`: the path so far.
            Some("self") if !is_path_sep(toks, i + 1) => return (vec![prefix], i + 1),
            Some(name) => {
                prefix.push(name.to_owned());
                i += 1;
            }
            None => return (vec![prefix], i),
        }
        if is_path_sep(toks, i) {
            i += 2;
        } else {
            if ident_at(toks, i) == Some("as") {
                i += 2;
            }
            return (vec![prefix], i);
        }
    }
}

/// The index after the item starting at `i` (skipped because it is `#[cfg(test)]`): a block item
/// ends with its first top-level `{...}` or a `;`, a field or variant with a `,` (or the end of its
/// enclosing braces).
fn skip_item(toks: &[(Tok, usize)], mut i: usize) -> usize {
    while is_punct(toks, i, '#') && is_punct(toks, i + 1, '[') {
        i = skip_group(toks, i + 1);
    }
    let mut j = i;
    if ident_at(toks, j) == Some("pub") {
        j += 1;
        if is_punct(toks, j, '(') {
            j = skip_group(toks, j);
        }
    }
    let block_item = matches!(
        ident_at(toks, j),
        Some(
            "fn" | "mod"
                | "impl"
                | "struct"
                | "enum"
                | "use"
                | "const"
                | "static"
                | "type"
                | "trait"
                | "unsafe"
                | "async"
                | "extern"
                | "macro_rules"
        )
    );
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Punct(';') => return i + 1,
            Tok::Punct(',') if !block_item => return i + 1,
            Tok::Punct('{') if block_item => return skip_group(toks, i),
            Tok::Punct('(' | '[' | '{') => i = skip_group(toks, i),
            Tok::Punct(')' | ']' | '}') => return i,
            _ => i += 1,
        }
    }
    i
}

/// The index after the bracketed group opening at `i`.
fn skip_group(toks: &[(Tok, usize)], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < toks.len() {
        match toks[i].0 {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Scans a file of module `module` (its path from the crate root).
fn scan(src: &str, module: &[String]) -> Scan {
    let toks = lex(src);
    let mut scan = Scan::default();
    // Inline modules open around `i`: (name, brace depth inside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let (mut depth, mut i, mut path_attr) = (0usize, 0usize, None::<String>);
    while i < toks.len() {
        let (tok, line) = (&toks[i].0, toks[i].1);
        let here = || -> Vec<String> {
            module
                .iter()
                .cloned()
                .chain(inline.iter().map(|(n, _)| n.clone()))
                .collect()
        };
        match tok {
            Tok::Punct('#') if is_punct(&toks, i + 1, '[') => {
                let attr: Vec<&Tok> = toks[i + 2..].iter().take(5).map(|(t, _)| t).collect();
                let cfg_test = attr
                    == [
                        &Tok::Ident("cfg".into()),
                        &Tok::Punct('('),
                        &Tok::Ident("test".into()),
                        &Tok::Punct(')'),
                        &Tok::Punct(']'),
                    ];
                if cfg_test {
                    i = skip_item(&toks, i + 7);
                    continue;
                }
                if let [Tok::Ident(p), Tok::Punct('='), Tok::Str(s), ..] = attr[..] {
                    if p == "path" {
                        path_attr = Some(s.clone());
                    }
                }
                // Other attributes are read on: `#[serde(with = "crate::...")]` names a module.
            }
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(w) if w == "mod" => {
                if let Some(name) = ident_at(&toks, i + 1) {
                    if is_punct(&toks, i + 2, '{') {
                        inline.push((name.to_owned(), depth + 1));
                    } else if is_punct(&toks, i + 2, ';') && depth == 0 {
                        scan.mods.push((name.to_owned(), path_attr.take()));
                    }
                }
            }
            Tok::Ident(w) if w == "use" && depth == 0 => {
                let relative = ident_at(&toks, i + 1)
                    .is_some_and(|first| !["crate", "super", "self"].contains(&first));
                if relative {
                    let (paths, next) = use_tree(&toks, i + 1);
                    scan.relative_uses.extend(paths);
                    i = next;
                    continue;
                }
            }
            Tok::Ident(w) if w == "crate" || w == "super" || w == "self" => {
                let after_sep = i >= 2 && is_path_sep(&toks, i - 2);
                if !after_sep && is_path_sep(&toks, i + 1) {
                    let mut base = if w == "crate" { Vec::new() } else { here() };
                    let mut j = i + 3;
                    if w == "super" {
                        base.pop();
                        while ident_at(&toks, j) == Some("super") && is_path_sep(&toks, j + 1) {
                            base.pop();
                            j += 3;
                        }
                    }
                    let (paths, next) = use_tree(&toks, j);
                    for p in paths {
                        scan.paths
                            .push((base.iter().cloned().chain(p).collect(), line));
                    }
                    i = next;
                    continue;
                }
            }
            Tok::Str(s) => {
                if let Some(rest) = s.strip_prefix("crate::") {
                    let p = rest.split("::").map(str::to_owned).collect();
                    scan.paths.push((p, line));
                }
            }
            Tok::Punct(';') => path_attr = None,
            _ => {}
        }
        i += 1;
    }
    scan
}

/// The module graph of the crate rooted at `root`: node → (node → first place naming it).
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn graph(root: &Path, krate: &Crate, ws: &Path) -> Result<Graph> {
    let node_of = |module: &[String]| -> String {
        match module {
            [layer, sub, ..] if krate.layers.contains(&layer.as_str()) => format!("{layer}::{sub}"),
            [top, ..] => top.clone(),
            [] => String::new(),
        }
    };
    // Every module file: (file, module path).
    let mut files = Vec::new();
    let mut todo = vec![(root.to_path_buf(), Vec::<String>::new())];
    let mut root_scan = None;
    while let Some((file, module)) = todo.pop() {
        let src =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        let s = scan(&src, &module);
        let dir = file.parent().context("a file has a folder")?;
        // A module `m` declared in `a/b.rs` is in `a/b/`, one declared in a crate root or a mod.rs
        // beside it.
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let child_dir = if module.is_empty() || stem == "mod" {
            dir.to_path_buf()
        } else {
            dir.join(stem)
        };
        for (name, path) in &s.mods {
            let candidates = match path {
                Some(p) => vec![dir.join(p)],
                None => vec![
                    child_dir.join(format!("{name}.rs")),
                    child_dir.join(name).join("mod.rs"),
                ],
            };
            let Some(f) = candidates.into_iter().find(|c| c.is_file()) else {
                bail!("{}: no file for `mod {name};`", file.display());
            };
            let mut m = module.clone();
            m.push(name.clone());
            todo.push((f, m));
        }
        if module.is_empty() {
            root_scan = Some(s);
        } else {
            files.push((file, module, s));
        }
    }
    let nodes: BTreeSet<String> = files.iter().map(|(_, m, _)| node_of(m)).collect();
    // The crate root's re-exports of layer modules (`pub use chain::{tx, ...}`) are other names of
    // the same nodes.
    let mut aliases = BTreeMap::new();
    for p in root_scan.map(|s| s.relative_uses).unwrap_or_default() {
        if let [layer, sub] = &p[..] {
            if nodes.contains(&format!("{layer}::{sub}")) {
                aliases.insert(sub.clone(), format!("{layer}::{sub}"));
            }
        }
    }
    let resolve = |p: &[String]| -> Option<String> {
        if let [layer, sub, ..] = p {
            let n = format!("{layer}::{sub}");
            if krate.layers.contains(&layer.as_str()) && nodes.contains(&n) {
                return Some(n);
            }
        }
        let first = p.first()?;
        if nodes.contains(first) {
            return Some(first.clone());
        }
        aliases.get(first).cloned()
    };
    let mut g: Graph = nodes.iter().map(|n| (n.clone(), BTreeMap::new())).collect();
    for (file, module, s) in &files {
        let from = node_of(module);
        for (p, line) in &s.paths {
            let Some(to) = resolve(p) else { continue };
            if to != from {
                let at = file.strip_prefix(ws).unwrap_or(file).display();
                g.entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| format!("{at}:{line}"));
            }
        }
    }
    Ok(g)
}

/// Tarjan's strongly connected components of more than one node.
fn circles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flat_map(|e| e.keys()) {
            if !t.index.contains_key(w.as_str()) {
                visit(t, w.as_str());
                let lw = t.low[w.as_str()];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w.as_str()) {
                let iw = t.index[w.as_str()];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.insert(w.to_owned());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_import_circle_between_modules() -> Result<()> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ws = ws.canonicalize().unwrap_or(ws);
    let mut failures = Vec::new();
    for krate in CRATES {
        let src = ws.join(krate.src);
        let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
            .iter()
            .map(|f| src.join(f))
            .filter(|f| f.is_file())
            .collect();
        // Binaries: `bin/NAME.rs`, or a folder `bin/NAME/` rooted at its `main.rs`.
        if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
            roots.extend(bins.filter_map(|e| {
                let path = e.ok()?.path();
                if path.is_dir() {
                    Some(path.join("main.rs")).filter(|m| m.is_file())
                } else {
                    Some(path)
                }
            }));
        }
        let mut unused: BTreeSet<BTreeSet<String>> = krate
            .allowed
            .iter()
            .map(|a| a.iter().map(|s| s.to_string()).collect())
            .collect();
        let mut found = Vec::new();
        for root in roots {
            let g = graph(&root, krate, &ws)?;
            let edges: usize = g.values().map(BTreeMap::len).sum();
            let name = root
                .strip_prefix(&ws)
                .unwrap_or(&root)
                .display()
                .to_string();
            eprintln!("{name}: {} modules, {edges} edges", g.len());
            // A guard against a reader that silently finds nothing.
            if name == "contracts/src/lib.rs" {
                ensure!(
                    g.len() > 20 && edges > 50,
                    "{name}: only {} modules and {edges} edges found",
                    g.len()
                );
            }
            for c in circles(&g) {
                found.push(c.clone());
                if unused.remove(&c) || krate.allowed.iter().any(|a| a.iter().eq(c.iter())) {
                    eprintln!("{name}: allowed circle {c:?}");
                    continue;
                }
                let mut msg = format!("{name}: import circle between {c:?}:");
                for from in &c {
                    for (to, at) in &g[from] {
                        if c.contains(to) {
                            msg.push_str(&format!("\n    {from} → {to} ({at})"));
                        }
                    }
                }
                failures.push(msg);
            }
        }
        // (An allowed circle swallowed by a larger one is reported with that one.)
        for a in unused
            .into_iter()
            .filter(|a| !found.iter().any(|c| c.is_superset(a)))
        {
            failures.push(format!(
                "{}: the allow-list accepts the circle {a:?}, which is gone: remove it",
                krate.src
            ));
        }
    }
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn reader_sees_groups_strings_and_super_and_skips_comments_and_tests() {
    let src = r##"
        //! Docs naming crate::doc_only.
        use crate::{a::{self, X}, l::m::{Y, Z as W}};
        use super::sibling::T; /* crate::in_block_comment */
        #[serde(with = "crate::b::with")]
        struct S { f: u8, #[cfg(test)] g: crate::test_field::F, h: u8 }
        fn f<'a>(x: &'a str) -> char { let _ = "see crate::x"; crate::c::call(); '{' }
        mod inner { fn g() { super::super::up::f(); } }
        #[cfg(test)]
        mod tests { use crate::test_only; }
        #[cfg(test)]
        mod testkit;
        pub mod real;
        #[path = "other.rs"]
        mod elsewhere;
        const R: &str = r#"{ " crate::no }"#;
        const D: &str = r#"crate::d::raw"#;
        fn after() { crate::e::after_raw(); }
    "##;
    let s = scan(src, &["top".to_owned(), "file".to_owned()]);
    let firsts: Vec<String> = s.paths.iter().map(|(p, _)| p.join("::")).collect();
    assert_eq!(
        firsts,
        [
            "a",
            "a::X",
            "l::m::Y",
            "l::m::Z",
            "top::sibling::T",
            "b::with",
            "c::call",
            "top::up::f",
            "d::raw",
            "e::after_raw",
        ]
    );
    assert_eq!(
        s.mods,
        [
            ("real".to_owned(), None),
            ("elsewhere".to_owned(), Some("other.rs".to_owned()))
        ]
    );
    let mut g = Graph::new();
    for (a, b) in [("x", "y"), ("y", "z"), ("z", "x"), ("z", "w"), ("w", "w")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), String::new());
        g.entry(b.into()).or_default();
    }
    let found = circles(&g);
    assert_eq!(found.len(), 1);
    assert!(found[0].iter().eq(["x", "y", "z"].iter()));
}
