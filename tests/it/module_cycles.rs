//! Keeps module dependencies inside each crate pointing one way: no two
//! file-level modules of a crate may reach each other through their `use`
//! and path references.
//!
//! A module is a file (`api::json` is `src/api/json.rs`). An edge goes from
//! a module to every module it names through `crate::…`, `super::…`,
//! `self::…` or a child module's name, in `use` items and in expressions.
//! A path through a `use` import is followed to where the item is imported
//! from, so a crate root or parent that re-exports a child's item does not
//! stand between the child and its users; a child using an item its parent
//! defines is an edge to the parent.
//!
//! On failure the message lists each cycle with its edges; move the shared
//! piece down into a module of its own and rerun
//! `cargo test --test it module_cycles`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type ModPath = Vec<String>;

#[test]
fn no_module_cycles_inside_a_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut report = String::new();
    for root_file in crate_roots(root) {
        let rel = root_file
            .strip_prefix(root)
            .expect("root under the workspace")
            .to_string_lossy()
            .into_owned();
        let graph = Graph::load(&root_file);
        for component in graph.cycles() {
            let names: Vec<String> = component.iter().map(name).collect();
            let line = names.join(" ");
            report.push_str(&format!("{rel}: {line}\n"));
            for from in &component {
                for to in &graph.edges[from] {
                    if component.contains(to) {
                        report.push_str(&format!("    {} -> {}\n", name(from), name(to)));
                    }
                }
            }
        }
    }
    assert!(
        report.is_empty(),
        "modules of a crate reach each other in a circle:\n{report}"
    );
}

/// Every `src/lib.rs` and `src/main.rs` of the workspace's packages.
fn crate_roots(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf()];
    for group in ["crates", "bins"] {
        let mut members: Vec<PathBuf> = std::fs::read_dir(root.join(group))
            .expect("member folder")
            .map(|e| e.expect("dir entry").path())
            .collect();
        members.sort();
        dirs.extend(members);
    }
    let mut roots = Vec::new();
    for dir in dirs {
        for file in ["lib.rs", "main.rs"] {
            let path = dir.join("src").join(file);
            if path.exists() {
                roots.push(path);
            }
        }
    }
    assert!(roots.len() >= 10, "found only {} crate roots", roots.len());
    roots
}

fn name(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".to_owned()
    } else {
        m.join("::")
    }
}

struct Graph {
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

/// What one file says: the absolute paths it names, and the names it
/// imports at file level with the absolute path each stands for.
#[derive(Default)]
struct FileRefs {
    paths: Vec<ModPath>,
    imports: BTreeMap<String, ModPath>,
}

impl Graph {
    fn load(root_file: &Path) -> Self {
        let mut files = BTreeMap::new();
        let src = root_file.parent().expect("src dir");
        collect_modules(Vec::new(), root_file, src, &mut files);
        let modules: BTreeSet<ModPath> = files.keys().cloned().collect();
        let refs: BTreeMap<ModPath, FileRefs> = files
            .iter()
            .map(|(m, text)| (m.clone(), file_refs(m, text, &modules)))
            .collect();
        let mut edges = BTreeMap::new();
        for (m, r) in &refs {
            let targets: BTreeSet<ModPath> = r
                .paths
                .iter()
                .map(|p| follow(p, &modules, &refs, 0))
                .filter(|t| t != m)
                .collect();
            edges.insert(m.clone(), targets);
        }
        Self { edges }
    }

    /// Strongly connected components with more than one module (Tarjan).
    fn cycles(&self) -> Vec<Vec<ModPath>> {
        struct State<'a> {
            edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
            next: usize,
            index: BTreeMap<&'a ModPath, usize>,
            low: BTreeMap<&'a ModPath, usize>,
            stack: Vec<&'a ModPath>,
            out: Vec<Vec<ModPath>>,
        }
        fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
            s.index.insert(v, s.next);
            s.low.insert(v, s.next);
            s.next += 1;
            s.stack.push(v);
            for w in &s.edges[v] {
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if s.stack.contains(&w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if s.low[v] == s.index[v] {
                let mut component = Vec::new();
                loop {
                    let w = s.stack.pop().expect("on stack");
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    s.out.push(component);
                }
            }
        }
        let mut s = State {
            edges: &self.edges,
            next: 0,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            out: Vec::new(),
        };
        for v in self.edges.keys() {
            if !s.index.contains_key(v) {
                visit(&mut s, v);
            }
        }
        s.out.sort();
        s.out
    }
}

/// Reads `file` as module `path` and, following its `mod name;` items,
/// every file module below it.
fn collect_modules(
    path: ModPath,
    file: &Path,
    children_dir: &Path,
    out: &mut BTreeMap<ModPath, String>,
) {
    let text = strip_comments_and_strings(&std::fs::read_to_string(file).expect("source file"));
    for line in text.lines() {
        let Some((child, true)) = mod_item(line) else {
            continue;
        };
        for candidate in [
            children_dir.join(format!("{child}.rs")),
            children_dir.join(&child).join("mod.rs"),
        ] {
            if candidate.exists() {
                let mut sub = path.clone();
                sub.push(child.clone());
                collect_modules(sub, &candidate, &children_dir.join(&child), out);
                break;
            }
        }
    }
    out.insert(path, text);
}

/// `mod name;` gives `(name, true)`, an inline `mod name {` gives
/// `(name, false)`.
fn mod_item(line: &str) -> Option<(String, bool)> {
    let mut rest = line.trim();
    while rest.starts_with("#[") {
        rest = rest[rest.find(']')? + 1..].trim_start();
    }
    if let Some(r) = rest.strip_prefix("pub") {
        rest = r.trim_start();
        if rest.starts_with('(') {
            rest = rest[rest.find(')')? + 1..].trim_start();
        }
    }
    let rest = rest.strip_prefix("mod ")?.trim_start();
    let end = rest.find(|c: char| !is_ident(c))?;
    let (ident, tail) = rest.split_at(end);
    match tail.trim_start().chars().next()? {
        ';' => Some((ident.to_owned(), true)),
        '{' => Some((ident.to_owned(), false)),
        _ => None,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Blanks comments (doc links are not dependencies) and string and char
/// literals (their braces would upset the brace count).
fn strip_comments_and_strings(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let at = |i: usize, s: &str| s.chars().enumerate().all(|(k, c)| b.get(i + k) == Some(&c));
    while i < b.len() {
        if at(i, "//") {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            i += 2;
            while i < b.len() && !at(i, "*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == 'r'
            && (at(i + 1, "\"") || at(i + 1, "#\"") || at(i + 1, "##\""))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            let hashes = b[i + 1..].iter().take_while(|c| **c == '#').count();
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            i += 2 + hashes;
            while i < b.len() && !at(i, &close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if b[i] == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == '\'' && b.get(i + 1) == Some(&'\\') {
            i += 2;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if b[i] == '\'' && b.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// The absolute paths module `me` names, with `self`, `super` and child
/// names resolved; inline `mod … {}` blocks (tests) belong to their file.
fn file_refs(me: &ModPath, text: &str, modules: &BTreeSet<ModPath>) -> FileRefs {
    let children: BTreeSet<&str> = modules
        .iter()
        .filter(|m| m.len() == me.len() + 1 && m.starts_with(me))
        .map(|m| m[me.len()].as_str())
        .collect();
    let mut refs = FileRefs::default();
    // Inline modules open at these brace depths.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut pending_use: Option<String> = None;
    for line in text.lines() {
        let scope: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
        let mut here = me.clone();
        here.extend(scope.iter().cloned());
        let resolve = |segs: &[String]| -> Option<ModPath> {
            let first = segs.first()?;
            let mut base = match first.as_str() {
                "crate" => Vec::new(),
                "self" | "super" => here.clone(),
                child if scope.is_empty() && children.contains(child) => me.clone(),
                _ => return None,
            };
            let mut rest = segs;
            if first == "crate" {
                rest = &segs[1..];
            }
            while let Some(s) = rest.first() {
                match s.as_str() {
                    "self" => {}
                    "super" => {
                        base.pop();
                    }
                    _ => break,
                }
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        };
        let use_text = match pending_use.take() {
            Some(mut acc) => {
                acc.push(' ');
                acc.push_str(line);
                Some(acc)
            }
            None => use_item(line).map(str::to_owned),
        };
        if let Some(acc) = use_text {
            if let Some(end) = acc.find(';') {
                for (path, alias) in expand_use(&acc[..end]) {
                    if let Some(abs) = resolve(&path) {
                        if scope.is_empty() && !abs.is_empty() {
                            let key = alias.unwrap_or_else(|| abs[abs.len() - 1].clone());
                            refs.imports.insert(key, abs.clone());
                        }
                        refs.paths.push(abs);
                    }
                }
            } else {
                pending_use = Some(acc);
            }
        } else {
            for path in expression_paths(line) {
                if let Some(abs) = resolve(&path) {
                    refs.paths.push(abs);
                }
            }
        }
        if let Some((name, false)) = mod_item(line) {
            inline.push((name, depth));
        }
        for c in line.chars() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if inline.last().is_some_and(|(_, d)| *d == depth) {
                        inline.pop();
                    }
                }
                _ => {}
            }
        }
    }
    refs
}

/// The tree of a `use` item starting on this line, if one does.
fn use_item(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    if let Some(r) = rest.strip_prefix("pub") {
        rest = r.trim_start();
        if rest.starts_with('(') {
            rest = rest[rest.find(')')? + 1..].trim_start();
        }
    }
    rest.strip_prefix("use ")
}

/// `a::{b, c::{d as e}}` gives `a::b` and `a::c::d` (alias `e`).
fn expand_use(tree: &str) -> Vec<(ModPath, Option<String>)> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let tree = tree.replace(" as ", "@").replace(' ', "");
    let mut out = Vec::new();
    expand_into(&tree, &mut Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<(ModPath, Option<String>)>) {
    let tree = tree.trim_start_matches("::");
    let Some(open) = tree.find('{') else {
        let (path, alias) = match tree.split_once('@') {
            Some((p, a)) => (p, Some(a.to_owned())),
            None => (tree, None),
        };
        let mut segs = prefix.clone();
        segs.extend(
            path.split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        if !segs.is_empty() {
            out.push((segs, alias));
        }
        return;
    };
    let head: Vec<String> = tree[..open]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let close = tree.rfind('}').unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let before = prefix.len();
    prefix.extend(head);
    let mut level = 0usize;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => level += 1,
            '}' => level = level.saturating_sub(1),
            ',' if level == 0 => {
                expand_into(&inner[start..i], prefix, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    expand_into(&inner[start..], prefix, out);
    prefix.truncate(before);
}

/// Paths of two or more segments in an expression line, such as
/// `crate::x::f` or `super::Y`; a path after `::` is part of a longer one.
fn expression_paths(line: &str) -> Vec<ModPath> {
    let b: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = is_ident(b[i])
            && !b[i].is_ascii_digit()
            && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == ':'));
        if !starts {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        loop {
            let s = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            segs.push(b[s..i].iter().collect::<String>());
            if b.get(i) == Some(&':')
                && b.get(i + 1) == Some(&':')
                && b.get(i + 2).is_some_and(|c| is_ident(*c))
            {
                i += 2;
            } else {
                break;
            }
        }
        if segs.len() >= 2 {
            out.push(segs);
        }
    }
    out
}

/// The file module a path lands in, following file-level imports to where
/// the named item comes from.
fn follow(
    path: &ModPath,
    modules: &BTreeSet<ModPath>,
    refs: &BTreeMap<ModPath, FileRefs>,
    hops: usize,
) -> ModPath {
    let owner = (0..=path.len())
        .rev()
        .map(|k| path[..k].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default();
    let rest = &path[owner.len()..];
    if let Some(first) = rest.first()
        && hops < 8
        && let Some(target) = refs.get(&owner).and_then(|r| r.imports.get(first))
    {
        let mut next = target.clone();
        next.extend(rest[1..].iter().cloned());
        if &next != path {
            return follow(&next, modules, refs, hops + 1);
        }
    }
    owner
}

/// The checker itself: a child using its parent's item while the parent
/// uses the child is a cycle; the same item reached through a re-export is
/// not.
#[test]
fn a_parent_child_cycle_is_found_and_a_reexport_is_not_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("parent")).expect("src dir");
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).expect("write");
    write("lib.rs", "mod parent;\nmod leaf;\n");
    write("leaf.rs", "pub struct Shared;\n");
    write(
        "parent/child.rs",
        "use super::Shared;\npub fn f(_: Shared) {}\n",
    );
    write(
        "parent/mod.rs",
        "mod child;\npub use crate::leaf::Shared;\npub fn g() { child::f(Shared) }\n",
    );
    let graph = Graph::load(&src.join("lib.rs"));
    assert!(graph.cycles().is_empty(), "a re-export is followed");

    write(
        "parent/mod.rs",
        "mod child;\npub struct Shared;\npub fn g() { child::f(Shared) }\n",
    );
    let graph = Graph::load(&src.join("lib.rs"));
    let cycles: Vec<Vec<String>> = graph
        .cycles()
        .iter()
        .map(|c| c.iter().map(name).collect())
        .collect();
    assert_eq!(cycles, [["parent", "parent::child"]]);
}
