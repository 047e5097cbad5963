//! ARCHITECTURE.md is exactly true: its import rules are the imports (every `crate::` path in a
//! module of `src/`, tests and comments aside, names a module its rules allow, and every module a
//! rule allows is imported), the rules form a one-way order, and its table of steps names the file
//! of every spec step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The `imports` block of ARCHITECTURE.md: module → the modules it may import.
fn rules() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let block = doc.split("```imports\n").nth(1).and_then(|b| b.split("```").next()).expect("an ```imports block in ARCHITECTURE.md");
    block
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(m, deps)| (m.trim().to_string(), deps.split_whitespace().map(str::to_string).collect()))
        .collect()
}

/// What each top-level module of `src/` imports from the rest of the crate (and `halo_sim`).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = p.strip_prefix(&src).unwrap();
        let module = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        let deps = out.entry(module.clone()).or_default();
        for line in code.lines().map(str::trim_start).filter(|l| !l.starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let before = line[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue; // `icon_haloitsm::crate::`-like text, or part of a longer name
                }
                let name: String = line[i + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if name != module {
                    deps.insert(name);
                }
            }
            if line.contains("halo_sim") {
                deps.insert("halo_sim".into());
            }
        }
    }
    out
}

#[test]
fn every_module_imports_exactly_what_architecture_md_says() {
    let rules = rules();
    let imports = imports();
    for (module, deps) in &imports {
        let allowed = rules.get(module).unwrap_or_else(|| panic!("ARCHITECTURE.md has no import rule for `{module}`"));
        let extra: Vec<&String> = deps.difference(allowed).collect();
        assert!(extra.is_empty(), "`{module}` imports {extra:?}, which ARCHITECTURE.md does not allow it");
        let unused: Vec<&String> = allowed.difference(deps).collect();
        assert!(unused.is_empty(), "ARCHITECTURE.md lets `{module}` import {unused:?}, which it does not: drop them from its rule");
    }
    let stale: Vec<&String> = rules.keys().filter(|m| !imports.contains_key(*m)).collect();
    assert!(stale.is_empty(), "ARCHITECTURE.md has rules for modules that do not exist: {stale:?}");
}

/// The `steps` block of ARCHITECTURE.md: step → the file that implements it.
fn step_files() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let block = doc.split("```steps\n").nth(1).and_then(|b| b.split("```").next()).expect("a ```steps block in ARCHITECTURE.md");
    block.lines().filter_map(|l| l.split_once(':')).map(|(s, f)| (s.trim().to_string(), f.trim().to_string())).collect()
}

#[test]
fn the_table_of_steps_names_each_steps_file() {
    let spec = icon_haloitsm::spec::spec();
    let table = step_files();
    let steps: BTreeSet<String> = spec.actions.keys().chain(spec.triggers.keys()).cloned().collect();
    let listed: BTreeSet<String> = table.keys().cloned().collect();
    assert_eq!(listed, steps, "ARCHITECTURE.md's table of steps and the spec's steps differ");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (step, file) in &table {
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|_| panic!("{step}: {file} does not exist"));
        if spec.actions.contains_key(step) {
            assert!(text.contains(&format!("= \"{step}\";")), "{step} is not defined in {file}");
        } else {
            assert!(file.starts_with("src/triggers/"), "{step}: a trigger lives in src/triggers/, not {file}");
            assert!(icon_haloitsm::ticket_events::Kind::from_name(step).is_some(), "{step} is not a trigger the engine knows");
        }
    }
}

#[test]
fn the_import_rules_are_a_one_way_order() {
    let rules = rules();
    // Each rule may name only modules listed before it: no circle, no upward arrow.
    let mut seen = BTreeSet::new();
    for line in std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
        .unwrap()
        .split("```imports\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap()
        .lines()
    {
        let Some((module, _)) = line.split_once(':') else { continue };
        let module = module.trim();
        for dep in &rules[module] {
            assert!(seen.contains(dep.as_str()) || dep == "halo_sim", "`{module}` may import `{dep}`, which comes after it");
        }
        seen.insert(module);
    }
    // These import no plugin module, only leaves that import nothing themselves (`memory`).
    for quiet in ["halo", "spec", "front_door", "fnv"] {
        assert!(rules[quiet].iter().all(|dep| rules[dep].is_empty()), "`{quiet}` must import no plugin module");
    }
}

/// Every Rust file of the workspace, under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "sim/src", "sim/tests", "bench/src", "xtask/src", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).ok()?.lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", f.strip_prefix(root).unwrap_or(f).display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by what they do: {long:?}");
}
