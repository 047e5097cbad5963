//! The `.plg` export: a gzipped `docker save` archive built without a Docker daemon. Checked
//! for reproducibility, its layers (entrypoint, spec, non-root user), skopeo's acceptance, the
//! unpacked binary answering `info`, and, where a Docker engine exists, `docker load` + `run`.

#[path = "../../xtask/src/image.rs"]
#[allow(dead_code)]
mod image;

use std::collections::HashMap;
use std::io::Read;
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_icon_haloitsm");
const TAG: &str = "iconhalo/haloitsm:1.0.0";

fn build() -> Vec<u8> {
    let binary = std::fs::read(BIN).unwrap();
    let spec = icon_haloitsm::spec::SPEC_YAML.as_bytes().to_vec();
    let img = image::plugin_image(
        TAG,
        binary,
        spec,
        b"-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n".to_vec(),
        "iconhalo",
        "2026-11-25T00:00:00Z",
    );
    // The fastest level: the test binary is a large debug build; `export` uses the best.
    image::gzip_level(&image::docker_archive(&img).unwrap(), 1).unwrap()
}

/// path → (mode, uid, bytes) of a tar archive.
fn files(tar_bytes: &[u8]) -> HashMap<String, (u32, u64, Vec<u8>)> {
    let mut out = HashMap::new();
    let mut a = tar::Archive::new(tar_bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().to_string();
        let (mode, uid) = (e.header().mode().unwrap(), e.header().uid().unwrap());
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(path, (mode, uid, data));
    }
    out
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn the_export_is_reproducible() {
    assert_eq!(build(), build(), "same inputs, same bytes");
}

#[test]
fn the_archive_holds_a_runnable_non_root_plugin_image() {
    let archive = gunzip(&build());
    let outer = files(&archive);
    let manifest: Value = serde_json::from_slice(&outer["manifest.json"].2).unwrap();
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([TAG]));
    let config: Value = serde_json::from_slice(&outer[manifest[0]["Config"].as_str().unwrap()].2).unwrap();
    let c = &config["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/icon_haloitsm"]));
    assert!(c["ExposedPorts"].get("10001/tcp").is_some());
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["Labels"]["organization"], "iconhalo");
    assert_eq!(c["Labels"]["sdk"], "rust");
    let layers: Vec<String> = manifest[0]["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), layers.len());
    let mut root: HashMap<String, (u32, u64, Vec<u8>)> = HashMap::new();
    for l in &layers {
        root.extend(files(&outer[l].2));
    }
    let (mode, _, binary) = &root["icon_haloitsm"];
    assert!(mode & 0o111 != 0, "the entrypoint is executable");
    assert_eq!(binary.len() as u64, std::fs::metadata(BIN).unwrap().len());
    assert_eq!(root["plugin.spec.yaml"].2, icon_haloitsm::spec::SPEC_YAML.as_bytes());
    let passwd = String::from_utf8(root["etc/passwd"].2.clone()).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("nobody:x:65534:")), "{passwd}");
    assert_eq!(root["workspace/cache/"].1, 65534, "the trigger state directory belongs to the plugin's user");
    assert!(root.contains_key("etc/ssl/certs/ca-certificates.crt"));

    // The binary, unpacked, answers `info`.
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("icon_haloitsm");
    std::fs::write(&exe, binary).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    let out = Command::new(&exe).arg("info").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Name:        haloitsm"));
}

#[test]
fn skopeo_accepts_the_archive() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        assert!(std::env::var_os("REQUIRE_SKOPEO").is_none(), "REQUIRE_SKOPEO is set but skopeo is not installed");
        eprintln!("skipped: skopeo is not installed (apt-get install skopeo); CI installs it and sets REQUIRE_SKOPEO=1");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("image.tar");
    std::fs::write(&tar_path, gunzip(&build())).unwrap();
    let out = Command::new("skopeo").args(["inspect", "--config"]).arg(format!("docker-archive:{}", tar_path.display())).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/icon_haloitsm"]));
    assert_eq!(config["config"]["User"], "nobody");
}

#[test]
fn docker_loads_and_runs_the_image_where_an_engine_exists() {
    let engine = Command::new("docker").arg("info").output().map(|o| o.status.success()).unwrap_or(false);
    if !engine {
        eprintln!("skipped: no Docker engine here (`docker info` fails); the archive is checked with skopeo and by unpacking it instead");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plg = dir.path().join("image.plg");
    std::fs::write(&plg, build()).unwrap();
    let load = Command::new("docker").arg("load").arg("-i").arg(&plg).output().unwrap();
    assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
    let run = Command::new("docker").args(["run", "--rm", TAG, "info"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("haloitsm"));
}

/// ELF program header type of the dynamic loader's path: a static binary has none.
const PT_INTERP: u32 = 3;

fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "an ELF executable");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| u32::from_le_bytes(elf[phoff + i * size..phoff + i * size + 4].try_into().unwrap()) == PT_INTERP)
}

/// The real export (`cargo xtask export`, a static musl build), named by `ICON_PLG`: `.ci/run`
/// exports one and sets it. Checked the way an importer sees it: skopeo reads it, and its binary,
/// unpacked, is static and answers `info`.
#[test]
fn the_exported_plg_holds_a_static_binary_that_answers_info() {
    let Some(path) = std::env::var_os("ICON_PLG") else {
        eprintln!("skipped: ICON_PLG is not set; `.ci/run` builds the export with `cargo xtask export` and sets it");
        return;
    };
    let plg = std::fs::read(&path).unwrap_or_else(|e| panic!("ICON_PLG={}: {e}", path.to_string_lossy()));
    let archive = gunzip(&plg);
    let outer = files(&archive);
    let manifest: Value = serde_json::from_slice(&outer["manifest.json"].2).unwrap();
    let mut root: HashMap<String, (u32, u64, Vec<u8>)> = HashMap::new();
    for l in manifest[0]["Layers"].as_array().unwrap() {
        root.extend(files(&outer[l.as_str().unwrap()].2));
    }
    let (mode, _, binary) = &root["icon_haloitsm"];
    assert!(!has_interpreter(binary), "the exported binary is statically linked");
    if cfg!(target_env = "gnu") {
        assert!(has_interpreter(&std::fs::read(BIN).unwrap()), "the ELF reader sees the loader of a dynamic build");
    }
    let cert_bundle = String::from_utf8_lossy(&root["etc/ssl/certs/ca-certificates.crt"].2).matches("BEGIN CERTIFICATE").count();
    assert!(cert_bundle > 50, "a real CA bundle ({cert_bundle} certificates)");
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("icon_haloitsm");
    std::fs::write(&exe, binary).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    let out = Command::new(&exe).arg("info").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Name:        haloitsm"));

    if Command::new("skopeo").arg("--version").output().is_ok() {
        let tar_path = dir.path().join("image.tar");
        std::fs::write(&tar_path, &archive).unwrap();
        let out = Command::new("skopeo").args(["inspect"]).arg(format!("docker-archive:{}", tar_path.display())).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}
