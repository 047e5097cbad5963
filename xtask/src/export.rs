//! `cargo xtask export`: build the static (musl) binary and write
//! `<vendor>-haloitsm-<version>.plg`, the gzipped `docker save` archive of image
//! `<vendor>/haloitsm:<version>`, without a Docker daemon.

use std::path::PathBuf;
use std::process::Command;

use crate::image;

const TARGET: &str = "x86_64-unknown-linux-musl";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Vendor, name and version from the spec.
pub fn identity(spec: &str) -> Result<(String, String, String), String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(spec).map_err(|e| format!("plugin.spec.yaml: {e}"))?;
    let get = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string).ok_or(format!("plugin.spec.yaml has no `{k}`"));
    Ok((get("vendor")?, get("name")?, get("version")?))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The workspace's target directory as cargo itself resolves it (`CARGO_TARGET_DIR`,
/// `build.target-dir` in a config file, or `target/`): a binary is looked for where the build
/// put it, never in a stale `target/`.
fn target_dir() -> Result<PathBuf, String> {
    target_dir_with(&[])
}

/// `target_dir` with `env` added to cargo's environment.
fn target_dir_with(env: &[(&str, &str)]) -> Result<PathBuf, String> {
    let out = cargo()
        .current_dir(crate::root())
        .envs(env.iter().copied())
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    target_dir_of(&out.stdout)
}

/// `target_directory` from `cargo metadata` output.
fn target_dir_of(metadata: &[u8]) -> Result<PathBuf, String> {
    let doc: serde_json::Value = serde_json::from_slice(metadata).map_err(|e| format!("cargo metadata: {e}"))?;
    doc.get("target_directory").and_then(|d| d.as_str()).map(PathBuf::from).ok_or_else(|| "cargo metadata has no target_directory".into())
}

fn build_static() -> Result<PathBuf, String> {
    let root = crate::root();
    let mut cmd = cargo();
    cmd.current_dir(&root).args(["build", "--release", "--locked", "--package", "icon_haloitsm", "--target", TARGET]);
    // ring's C code needs a musl C compiler (Debian package musl-tools).
    if std::env::var_os("CC_x86_64_unknown_linux_musl").is_none() {
        cmd.env("CC_x86_64_unknown_linux_musl", "musl-gcc");
    }
    let status = cmd.status().map_err(|e| format!("could not run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the static build failed (needs `rustup target add {TARGET}` and musl-tools; scripts/install-musl.sh installs both)"
        ));
    }
    Ok(target_dir()?.join(TARGET).join("release").join("icon_haloitsm"))
}

pub fn run(args: &[String]) -> Result<(), String> {
    let root = crate::root();
    let spec = std::fs::read(root.join("plugin.spec.yaml")).map_err(|e| format!("plugin.spec.yaml: {e}"))?;
    let (vendor, name, version) = identity(&String::from_utf8_lossy(&spec))?;
    let binary_path = match arg(args, "--binary") {
        Some(p) => PathBuf::from(p),
        None => build_static()?,
    };
    let binary = std::fs::read(&binary_path).map_err(|e| format!("{}: {e}", binary_path.display()))?;
    let ca_path = arg(args, "--ca").unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
    let ca = std::fs::read(&ca_path).map_err(|e| format!("the CA bundle {ca_path}: {e} (install ca-certificates, or pass --ca FILE)"))?;
    // Reproducible: the creation time comes from SOURCE_DATE_EPOCH (default: the epoch).
    let epoch: i64 = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let created = format_rfc3339(epoch);
    let tag = format!("{vendor}/{name}:{version}");
    let img = image::plugin_image(&tag, binary, spec, ca, &vendor, &created);
    let archive = image::docker_archive(&img).map_err(|e| e.to_string())?;
    let plg = image::gzip(&archive).map_err(|e| e.to_string())?;
    let out = arg(args, "--out").map(PathBuf::from).unwrap_or_else(|| root.join(format!("{vendor}-{name}-{version}.plg")));
    std::fs::write(&out, &plg).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("wrote {} ({:.1} MB, image {tag})", out.display(), plg.len() as f64 / 1_000_000.0);
    Ok(())
}

/// Seconds since the epoch as RFC 3339 UTC (no date library needed for whole seconds).
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_from_epoch_seconds() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_790_318_468), "2026-09-25T06:41:08Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn the_target_directory_is_where_cargo_builds() {
        let elsewhere = std::env::temp_dir().join("icon_haloitsm-elsewhere");
        let dir = target_dir_with(&[("CARGO_TARGET_DIR", elsewhere.to_str().unwrap())]).unwrap();
        assert_eq!(dir, elsewhere);
        assert!(target_dir_of(b"{}").is_err());
    }

    #[test]
    fn identity_from_the_spec() {
        let (v, n, ver) = identity("vendor: acme\nname: haloitsm\nversion: 1.2.3\n").unwrap();
        assert_eq!((v.as_str(), n.as_str(), ver.as_str()), ("acme", "haloitsm", "1.2.3"));
        assert!(identity("name: x").is_err());
    }
}
