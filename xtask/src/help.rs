//! `cargo xtask help [--check]`: help.md from plugin.spec.yaml and the hand-written templates in
//! help/, in the layout Rapid7's `insight-plugin` tool writes and its validators read.
//!
//! The spec gives the description, key features, requirements, supported versions, the
//! connection, every action and trigger, the custom types, troubleshooting, version history,
//! links and references. The prose that has no place in the spec lives in help/:
//! - `setup.md`: after the connection table (creating the HaloITSM API application, webhooks);
//! - `recipes.md`: after the triggers and tasks (workflow recipes);
//! - `troubleshooting.md`: after the spec's troubleshooting list.
//!
//! Table cells are written the way the validators rebuild them from the spec with Python's
//! `str()` (`True`, `None`, `{'key': 'value'}`; lists with double quotes), so a row of help.md
//! matches its spec field exactly. Example JSON is pretty printed with two spaces and sorted
//! keys. The output depends on nothing but the spec and the templates.

use std::path::Path;

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};

use crate::examples::example_object;
use crate::py_repr::{py_repr, py_str};

/// The hand-written parts of help.md (files under help/).
pub struct Templates {
    pub setup: String,
    pub recipes: String,
    pub troubleshooting: String,
}

impl Templates {
    fn load(root: &Path) -> Result<Templates, String> {
        let read = |name: &str| {
            let path = root.join("help").join(name);
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read help/{name}: {e}"))
        };
        Ok(Templates { setup: read("setup.md")?, recipes: read("recipes.md")?, troubleshooting: read("troubleshooting.md")? })
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err("usage: cargo xtask help [--check]".into()),
    };
    let root = crate::root();
    let generated = generate(&root)?;
    let path = root.join("help.md");
    let current = std::fs::read_to_string(&path).ok();
    if check {
        return match current {
            Some(c) if c == generated => Ok(()),
            Some(c) => Err(format!(
                "help.md is stale: it differs from what plugin.spec.yaml and help/*.md generate ({}); run `cargo xtask help` and commit help.md",
                first_difference(&c, &generated)
            )),
            None => Err("help.md is missing; run `cargo xtask help` and commit help.md".into()),
        };
    }
    if current.as_deref() != Some(generated.as_str()) {
        std::fs::write(&path, &generated).map_err(|e| format!("cannot write help.md: {e}"))?;
        println!("wrote help.md");
    } else {
        println!("help.md is up to date");
    }
    Ok(())
}

/// help.md as plugin.spec.yaml and help/*.md under `root` make it.
pub fn generate(root: &Path) -> Result<String, String> {
    let spec_text = std::fs::read_to_string(root.join("plugin.spec.yaml")).map_err(|e| format!("cannot read plugin.spec.yaml: {e}"))?;
    let spec: Yaml = serde_yaml::from_str(&spec_text).map_err(|e| format!("plugin.spec.yaml is not valid YAML: {e}"))?;
    render(&spec, &Templates::load(root)?)
}

fn first_difference(have: &str, want: &str) -> String {
    let (mut h, mut w) = (have.lines(), want.lines());
    for n in 1.. {
        match (h.next(), w.next()) {
            (None, None) => return "line endings differ".into(),
            (a, b) if a == b => continue,
            (a, b) => {
                let show = |l: Option<&str>| l.map(|l| format!("{:?}", truncate(l, 100))).unwrap_or_else(|| "end of file".into());
                return format!("first at line {n}: help.md has {}, expected {}", show(a), show(b));
            }
        }
    }
    unreachable!()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { format!("{}…", s.chars().take(max).collect::<String>()) }
}

/// The three kinds of component, as the spec's key, the singular noun and the section title.
const COMPONENTS: [(&str, &str, &str); 3] =
    [("actions", "action", "Actions"), ("triggers", "trigger", "Triggers"), ("tasks", "task", "Tasks")];

/// Input tables (connection, action, trigger and task inputs).
const INPUT_HEADERS: [&str; 9] = ["Name", "Type", "Default", "Required", "Description", "Enum", "Example", "Placeholder", "Tooltip"];
/// Output tables.
const OUTPUT_HEADERS: [&str; 5] = ["Name", "Type", "Required", "Description", "Example"];
/// Custom type tables.
const TYPE_HEADERS: [&str; 6] = ["Name", "Type", "Default", "Required", "Description", "Example"];

/// help.md from a parsed spec and the templates. Blocks (headings, paragraphs, tables, code)
/// are separated by one blank line; the file ends with a newline.
pub fn render(spec: &Yaml, templates: &Templates) -> Result<String, String> {
    let types = spec.get("types").and_then(Yaml::as_mapping);
    let mut b: Vec<String> = Vec::new();

    b.push("# Description".into());
    b.push(text(spec.get("description")).ok_or("the spec has no description")?);
    list_section(&mut b, "# Key Features", spec.get("key_features"), "any key features");
    list_section(&mut b, "# Requirements", spec.get("requirements"), "any requirements");
    list_section(&mut b, "# Supported Product Versions", spec.get("supported_versions"), "any supported product versions");

    b.push("# Documentation".into());
    b.push("## Setup".into());
    match spec.get("connection").and_then(Yaml::as_mapping).filter(|m| !m.is_empty()) {
        Some(conn) => {
            b.push("The connection configuration accepts the following parameters:".into());
            b.push(input_table(conn));
            b.push("Example input:".into());
            b.push(code(&example_object(conn, types, true)?));
        }
        None => b.push("*This plugin does not contain a connection.*".into()),
    }
    push_template(&mut b, &templates.setup);

    b.push("## Technical Details".into());
    for (key, noun, title) in COMPONENTS {
        b.push(format!("### {title}"));
        match spec.get(key).and_then(Yaml::as_mapping).filter(|m| !m.is_empty()) {
            Some(components) => {
                for (name, component) in sorted(components) {
                    component_section(&mut b, &name, component, noun, types).map_err(|e| format!("{key}.{name}: {e}"))?;
                }
            }
            None => b.push(format!("*This plugin does not contain any {key}.*")),
        }
    }
    push_template(&mut b, &templates.recipes);

    b.push("### Custom Types".into());
    match types.filter(|t| !t.is_empty()) {
        Some(types) => {
            for (name, fields) in types {
                let name = key_string(name);
                let fields = fields.as_mapping().ok_or_else(|| format!("types.{name} is not a mapping"))?;
                b.push(format!("**{name}**"));
                b.push(type_table(fields));
            }
        }
        None => b.push("*This plugin does not contain any custom output types.*".into()),
    }

    list_section(&mut b, "## Troubleshooting", spec.get("troubleshooting"), "any troubleshooting information");
    push_template(&mut b, &templates.troubleshooting);
    list_section(&mut b, "# Version History", spec.get("version_history"), "a version history");
    list_section(&mut b, "# Links", spec.get("links"), "any links");
    list_section(&mut b, "## References", spec.get("references"), "any references");

    let mut out = b.join("\n\n");
    out.push('\n');
    Ok(out)
}

/// A heading followed by a bullet list of the spec's list at `value`, or a sentence saying there
/// is none.
fn list_section(b: &mut Vec<String>, heading: &str, value: Option<&Yaml>, none: &str) {
    b.push(heading.to_string());
    let items: Vec<String> = match value {
        Some(Yaml::Sequence(items)) => items.iter().map(|i| format!("* {}", py_str(i))).collect(),
        Some(Yaml::Null) | None => Vec::new(),
        Some(other) => vec![format!("* {}", py_str(other))],
    };
    if items.is_empty() {
        b.push(format!("*This plugin does not contain {none}.*"));
    } else {
        b.push(items.join("\n"));
    }
}

fn push_template(b: &mut Vec<String>, template: &str) {
    let t = template.trim();
    if !t.is_empty() {
        b.push(t.to_string());
    }
}

/// `#### Title`, the description, and the input and output tables with their examples.
fn component_section(b: &mut Vec<String>, name: &str, c: &Yaml, noun: &str, types: Option<&Mapping>) -> Result<(), String> {
    let title = text(c.get("title")).unwrap_or_else(|| name.to_string());
    b.push(format!("#### {title}"));
    b.push(used_to(noun, &text(c.get("description")).unwrap_or_default()));
    if let Some(help) = text(c.get("help")) {
        b.push(help);
    }

    b.push("##### Input".into());
    match c.get("input").and_then(Yaml::as_mapping).filter(|m| !m.is_empty()) {
        Some(input) => {
            b.push(input_table(input));
            b.push("Example input:".into());
            b.push(code(&example_object(input, types, true)?));
        }
        None => b.push(format!("*This {noun} does not contain any inputs.*")),
    }

    b.push("##### Output".into());
    match c.get("output").and_then(Yaml::as_mapping).filter(|m| !m.is_empty()) {
        Some(output) => {
            b.push(output_table(output));
            b.push("Example output:".into());
            b.push(code(&example_object(output, types, false)?));
        }
        None => b.push(format!("*This {noun} does not contain any outputs.*")),
    }
    Ok(())
}

/// "This action is used to <description>", as Rapid7 words every component's description.
fn used_to(noun: &str, description: &str) -> String {
    let start = format!("This {noun} is used to");
    if description.to_lowercase().starts_with(&start.to_lowercase()) {
        return description.to_string();
    }
    let mut chars = description.chars();
    let first = match chars.next() {
        None => return format!("{start} {description}").trim_end().to_string(),
        Some(c) => c,
    };
    let rest = chars.as_str();
    // An acronym or a name such as "HTTP" or "InsightIDR" keeps its capital.
    let keep = description.split_whitespace().next().is_some_and(|w| w.chars().skip(1).any(char::is_uppercase));
    let first: String = if keep { first.to_string() } else { first.to_lowercase().collect() };
    format!("{start} {first}{rest}")
}

fn table(headers: &[&str], rows: Vec<String>) -> String {
    let mut lines =
        vec![format!("|{}|", headers.join("|")), format!("|{}|", headers.iter().map(|_| " :--- ").collect::<Vec<_>>().join("|"))];
    lines.extend(rows);
    lines.join("\n")
}

/// One table row: the cells between pipes, newlines written as `\n` (as the validators do).
fn row(cells: &[String]) -> String {
    format!("|{}|", cells.join("|")).replace('\n', "\\n")
}

fn input_table(fields: &Mapping) -> String {
    let rows = sorted(fields)
        .into_iter()
        .map(|(name, f)| {
            row(&[
                name,
                cell(f.get("type")),
                cell(f.get("default")),
                cell(f.get("required")),
                cell(f.get("description")),
                cell(f.get("enum")),
                cell(f.get("example")),
                cell(f.get("placeholder")),
                cell(f.get("tooltip")),
            ])
        })
        .collect();
    table(&INPUT_HEADERS, rows)
}

fn output_table(fields: &Mapping) -> String {
    let rows = sorted(fields)
        .into_iter()
        .map(|(name, f)| {
            let required = f.get("required").map_or_else(|| "False".to_string(), |r| cell(Some(r)));
            row(&[name, cell(f.get("type")), required, cell(f.get("description")), cell(f.get("example"))])
        })
        .collect();
    table(&OUTPUT_HEADERS, rows)
}

fn type_table(fields: &Mapping) -> String {
    let rows = sorted(fields)
        .into_iter()
        .map(|(name, f)| {
            let title = text(f.get("title")).unwrap_or(name);
            row(&[
                title,
                cell(f.get("type")),
                cell(f.get("default")),
                cell(f.get("required")),
                cell(f.get("description")),
                cell(f.get("example")),
            ])
        })
        .collect();
    table(&TYPE_HEADERS, rows)
}

/// A table cell the way the validators write a spec value: Python's `str()`, `None` when absent,
/// and lists with their single quotes turned into double quotes.
fn cell(v: Option<&Yaml>) -> String {
    match v {
        None | Some(Yaml::Null) => "None".into(),
        Some(list @ Yaml::Sequence(_)) => py_repr(list).replace('\'', "\""),
        Some(other) => py_str(other),
    }
}

/// The entries of a mapping sorted by key.
pub fn sorted(m: &Mapping) -> Vec<(String, &Yaml)> {
    let mut entries: Vec<(String, &Yaml)> = m.iter().map(|(k, v)| (key_string(k), v)).collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

pub fn key_string(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => py_str(other),
    }
}

fn text(v: Option<&Yaml>) -> Option<String> {
    match v {
        None | Some(Yaml::Null) => None,
        Some(v) => Some(py_str(v)),
    }
}

fn code(json: &Json) -> String {
    let pretty = serde_json::to_string_pretty(json).unwrap_or_else(|_| "{}".into());
    format!("```\n{pretty}\n```")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Yaml {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn committed_help_md_is_what_the_spec_and_templates_generate() {
        let root = crate::root();
        let generated = generate(&root).unwrap();
        let committed = std::fs::read_to_string(root.join("help.md")).unwrap_or_default();
        assert!(
            committed == generated,
            "help.md is stale ({}); run `cargo xtask help` and commit help.md",
            first_difference(&committed, &generated)
        );
    }

    #[test]
    fn input_rows_match_what_the_validators_rebuild_from_the_spec() {
        // The validator's row: f"|{name}|{type}|{default}|{required}|{description}|{enum}|{example}|{placeholder}|{tooltip}|"
        // with Python's str() of each value, and lists' single quotes replaced by double quotes.
        let fields = yaml(
            r#"
zeta:
  type: boolean
  required: false
  default: true
  description: Verify the certificate
  example: false
alpha:
  type: "[]string"
  required: true
  description: "Statuses, e.g. it's"
  enum: [FAIL, PASS]
  default: ["FAIL"]
  example: ["FAIL", "it's"]
mid:
  type: object
  description: "Line one\nline two"
  example: {"filename": "a.json", "n": 1, "ok": true, "none": null}
"#,
        );
        let t = input_table(fields.as_mapping().unwrap());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "|Name|Type|Default|Required|Description|Enum|Example|Placeholder|Tooltip|");
        assert_eq!(lines[1], "| :--- | :--- | :--- | :--- | :--- | :--- | :--- | :--- | :--- |");
        // Rows sorted by name.
        assert_eq!(lines[2], r#"|alpha|[]string|["FAIL"]|True|Statuses, e.g. it's|["FAIL", "PASS"]|["FAIL", "it"s"]|None|None|"#);
        assert_eq!(
            lines[3],
            r"|mid|object|None|None|Line one\nline two|None|{'filename': 'a.json', 'n': 1, 'ok': True, 'none': None}|None|None|"
        );
        assert_eq!(lines[4], "|zeta|boolean|True|False|Verify the certificate|None|False|None|None|");
    }

    #[test]
    fn output_rows_default_required_to_false() {
        let fields = yaml(
            "count:\n  type: integer\n  description: Number\n  example: 3\nok:\n  type: boolean\n  required: true\n  description: Done\n  example: true\n",
        );
        let t = output_table(fields.as_mapping().unwrap());
        assert_eq!(t.lines().nth(2), Some("|count|integer|False|Number|3|"));
        assert_eq!(t.lines().nth(3), Some("|ok|boolean|True|Done|True|"));
    }

    #[test]
    fn examples_come_from_the_spec_and_fall_back_to_types() {
        let types = yaml(
            r#"
ticket:
  id: {title: ID, type: integer, example: 7}
  closed: {title: Closed, type: boolean}
  notes: {title: Notes, type: "[]note"}
note:
  text: {title: Text, type: string, example: hello}
"#,
        );
        let output = yaml(
            r#"
tickets: {type: "[]ticket", description: All}
count: {type: integer, description: Number, example: 1}
"#,
        );
        let json = example_object(output.as_mapping().unwrap(), types.as_mapping(), false).unwrap();
        assert_eq!(
            code(&json),
            "```\n{\n  \"count\": 1,\n  \"tickets\": [\n    {\n      \"closed\": true,\n      \"id\": 7,\n      \"notes\": [\n        {\n          \"text\": \"hello\"\n        }\n      ]\n    }\n  ]\n}\n```"
        );

        // Inputs: example first, then default, then the first enum value; keys sorted at every level.
        let input = yaml(
            r#"
b: {type: string, default: x, enum: [y, z]}
a: {type: object, example: {z: 1, a: 2}}
c: {type: string, enum: [p, q]}
d: {type: integer, default: 5, example: 6}
"#,
        );
        let json = example_object(input.as_mapping().unwrap(), None, true).unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), r#"{"a":{"a":2,"z":1},"b":"x","c":"p","d":6}"#);
        let unknown = yaml("x: {type: nosuchtype}");
        assert!(example_object(unknown.as_mapping().unwrap(), None, false).is_err());
    }

    #[test]
    fn descriptions_read_as_rapid7_words_them() {
        assert_eq!(used_to("action", "Get a ticket by its ID"), "This action is used to get a ticket by its ID");
        assert_eq!(used_to("trigger", "This trigger is used to watch tickets"), "This trigger is used to watch tickets");
        assert_eq!(used_to("action", "HaloITSM lookups"), "This action is used to HaloITSM lookups");
        assert_eq!(used_to("action", "URL check"), "This action is used to URL check");
    }

    #[test]
    fn a_minimal_spec_renders_every_section_in_order() {
        let spec = yaml(
            r#"
description: Does things
key_features: [One]
version_history: ["1.0.0 - Initial plugin"]
links: ["[Vendor](https://example.com)"]
actions:
  b_step: {title: B Step, description: Second, output: {ok: {type: boolean, description: Done, example: true}}}
  a_step: {title: A Step, description: First, input: {n: {type: integer, description: N, example: 1}}}
"#,
        );
        let t = Templates { setup: "Set up text\n".into(), recipes: "### Recipes\n\nText\n".into(), troubleshooting: "More help\n".into() };
        let md = render(&spec, &t).unwrap();
        let headings: Vec<&str> = md.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(
            headings,
            [
                "# Description",
                "# Key Features",
                "# Requirements",
                "# Supported Product Versions",
                "# Documentation",
                "## Setup",
                "## Technical Details",
                "### Actions",
                "#### A Step",
                "##### Input",
                "##### Output",
                "#### B Step",
                "##### Input",
                "##### Output",
                "### Triggers",
                "### Tasks",
                "### Recipes",
                "### Custom Types",
                "## Troubleshooting",
                "# Version History",
                "# Links",
                "## References",
            ]
        );
        assert!(md.contains("*This plugin does not contain any requirements.*"));
        assert!(md.contains("*This plugin does not contain a connection.*\n\nSet up text\n\n## Technical Details"));
        assert!(md.contains("*This action does not contain any outputs.*"));
        assert!(md.contains("*This action does not contain any inputs.*"));
        assert!(md.contains("### Tasks\n\n*This plugin does not contain any tasks.*\n\n### Recipes"));
        assert!(md.contains(
            "## Troubleshooting\n\n*This plugin does not contain any troubleshooting information.*\n\nMore help\n\n# Version History"
        ));
        assert!(md.contains("# Version History\n\n* 1.0.0 - Initial plugin\n\n# Links"));
        assert!(md.ends_with("## References\n\n*This plugin does not contain any references.*\n"));
        // Deterministic.
        assert_eq!(md, render(&spec, &t).unwrap());
    }
}
