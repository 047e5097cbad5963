//! help.md from plugin.spec.yaml (in progress).

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("not written yet".into())
}
