//! Architecture rules the compiler does not check, read from the sources: ports stay narrow
//! (no trait over 15 methods), files stay readable (no source file over 600 lines), and the
//! modules of `operator-core` form layers (no import cycle; the agent never reaches into the
//! HTTP layer). A rule broken here names the file and the offending item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_TRAIT_METHODS: usize = 15;
const MAX_FILE_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name()
                .is_some_and(|n| n == "target" || n == "node_modules")
            {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source files the size rule covers: every crate's `src`, the Lambda functions and the worker.
fn governed_sources() -> Vec<PathBuf> {
    let ws = workspace();
    let mut files = vec![];
    for entry in std::fs::read_dir(ws.join("crates")).unwrap().flatten() {
        rust_files(&entry.path().join("src"), &mut files);
    }
    rust_files(&ws.join("functions"), &mut files);
    rust_files(&ws.join("worker"), &mut files);
    assert!(files.len() > 50, "found only {} source files", files.len());
    files
}

/// The text with comments, string and char literals blanked (keeps braces honest).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'r' if b.get(i + 1) == Some(&b'#') || (b.get(i + 1) == Some(&b'"')) => {
                // raw string r"…" / r#"…"#
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"')
                    || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
                {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while j < b.len() && !b[j..].starts_with(&close) {
                    j += 1;
                }
                i = j + close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') || (b.get(i + 1) == Some(&b'\\')) => {
                // a char literal ('x' or '\n'), not a lifetime
                let mut j = i + 1;
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// `(trait name, method count)` for every trait defined in `code`.
fn traits(code: &str) -> Vec<(String, usize)> {
    let mut found = vec![];
    let mut rest = code;
    while let Some(at) = rest.find("trait ") {
        let before = &rest[..at];
        let is_item = before.is_empty() || before.ends_with(|c: char| c.is_whitespace());
        let after = &rest[at + 6..];
        rest = after;
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !is_item || name.is_empty() {
            continue;
        }
        let Some(open) = after.find(['{', ';']) else {
            break;
        };
        if after.as_bytes()[open] == b';' {
            continue;
        }
        // Walk the body at depth 1, counting `fn` items.
        let body = &after[open + 1..];
        let (mut depth, mut methods, mut i) = (1usize, 0usize, 0usize);
        let bytes = body.as_bytes();
        while i < bytes.len() && depth > 0 {
            match bytes[i] {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b'f' if depth == 1
                    && body[i..].starts_with("fn ")
                    && (i == 0
                        || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')) =>
                {
                    methods += 1
                }
                _ => {}
            }
            i += 1;
        }
        found.push((name, methods));
    }
    found
}

#[test]
fn no_trait_has_more_than_fifteen_methods() {
    let ws = workspace();
    let mut files = vec![];
    rust_files(&ws.join("crates"), &mut files);
    let mut seen = 0;
    let mut wide = vec![];
    for f in files {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (name, n) in traits(&code) {
            seen += 1;
            if n > MAX_TRAIT_METHODS {
                wide.push(format!("{} in {}: {n} methods", name, f.display()));
            }
        }
    }
    assert!(seen >= 10, "the scan found only {seen} traits");
    assert!(
        wide.is_empty(),
        "traits over {MAX_TRAIT_METHODS} methods:\n{}",
        wide.join("\n")
    );
}

#[test]
fn no_source_file_is_over_six_hundred_lines() {
    let long: Vec<String> = governed_sources()
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// Top-level module of `operator-core` → the top-level modules its code names (`crate::x`).
fn core_module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = workspace().join("crates/core/src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        let deps = graph.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                deps.insert(name);
            }
        }
    }
    graph
}

#[test]
fn core_modules_form_layers_without_import_cycles() {
    let graph = core_module_graph();
    assert!(graph.len() >= 8, "modules found: {:?}", graph.keys());
    // Every cycle shows as a pair of modules that reach each other.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(m) = todo.pop() {
            for d in graph.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let mut cycles = vec![];
    for a in graph.keys() {
        for b in graph[a].iter().filter(|b| b.as_str() > a.as_str()) {
            if reach(b).contains(a) {
                cycles.push(format!("{a} -> {b} -> … -> {a}"));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between core modules:\n{}",
        cycles.join("\n")
    );
    assert!(
        !graph["agent"].contains("http"),
        "crates/core/src/agent imports from http: {:?}",
        graph["agent"]
    );
}

#[test]
fn the_scanner_sees_through_comments_and_strings() {
    let code = code_only(
        "// trait Fake { fn a(); }\nlet s = \"crate::http { }\";\nlet c = '{';\ntrait Real<'a> { fn a(&'a self); fn b() {} }",
    );
    assert_eq!(traits(&code), vec![("Real".to_owned(), 2)]);
    assert!(!code.contains("crate::http"));
}
