//! A container image written as a `docker save` archive (the format InsightConnect imports as a
//! `.plg` once gzipped), without a Docker daemon. Deterministic: the same inputs give the same
//! bytes (sorted entries, fixed times and owners, gzip without a timestamp).
//!
//! Layout (the `docker save` format that `docker load` and `skopeo` read):
//! `manifest.json`, `repositories`, `<config sha256>.json`, and per layer `<diff id>/layer.tar`,
//! `<diff id>/VERSION`, `<diff id>/json`.

use std::io::Write;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One file of a layer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path inside the image, without the leading `/`; directories end with `/`.
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub data: Vec<u8>,
}

impl Entry {
    pub fn file(path: &str, mode: u32, data: Vec<u8>) -> Entry {
        Entry { path: path.trim_start_matches('/').to_string(), mode, uid: 0, gid: 0, data }
    }

    pub fn dir(path: &str, mode: u32, owner: u64) -> Entry {
        let p = path.trim_start_matches('/').trim_end_matches('/');
        Entry { path: format!("{p}/"), mode, uid: owner, gid: owner, data: Vec::new() }
    }
}

/// What goes into the image.
#[derive(Debug, Clone)]
pub struct Image {
    /// `vendor/name:version`.
    pub tag: String,
    /// Layers, bottom first, each with a history note.
    pub layers: Vec<(String, Vec<Entry>)>,
    pub user: String,
    pub entrypoint: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub env: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// RFC 3339 creation time (from SOURCE_DATE_EPOCH for reproducible builds).
    pub created: String,
}

fn hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A tar archive of entries, deterministic: parents first, sorted, fixed mtime 0.
pub fn tar_of(entries: &[Entry]) -> std::io::Result<Vec<u8>> {
    let mut sorted = entries.to_vec();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = tar::Builder::new(Vec::new());
    out.mode(tar::HeaderMode::Deterministic);
    for e in &sorted {
        let mut h = tar::Header::new_gnu();
        h.set_path(&e.path)?;
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(0);
        if e.path.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_cksum();
            out.append(&h, std::io::empty())?;
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(e.data.len() as u64);
            h.set_cksum();
            out.append(&h, e.data.as_slice())?;
        }
    }
    out.into_inner()
}

/// The uncompressed `docker save` archive of an image.
pub fn docker_archive(img: &Image) -> std::io::Result<Vec<u8>> {
    let mut files: Vec<Entry> = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_paths = Vec::new();
    let mut history = Vec::new();
    let mut parent: Option<String> = None;
    for (note, entries) in &img.layers {
        let layer = tar_of(entries)?;
        let id = hex(&layer);
        diff_ids.push(format!("sha256:{id}"));
        layer_paths.push(format!("{id}/layer.tar"));
        history.push(json!({"created": img.created, "created_by": note}));
        let mut v1 = json!({"id": id, "created": img.created, "os": "linux", "architecture": "amd64"});
        if let Some(p) = &parent {
            v1["parent"] = json!(p);
        }
        files.push(Entry::dir(&id, 0o755, 0));
        files.push(Entry::file(&format!("{id}/VERSION"), 0o644, b"1.0".to_vec()));
        files.push(Entry::file(&format!("{id}/json"), 0o644, serde_json::to_vec(&v1)?));
        files.push(Entry::file(&format!("{id}/layer.tar"), 0o644, layer));
        parent = Some(id);
    }
    let ports: serde_json::Map<String, Value> = img.exposed_ports.iter().map(|p| (p.clone(), json!({}))).collect();
    let labels: serde_json::Map<String, Value> = img.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "created": img.created,
        "config": {
            "User": img.user,
            "Entrypoint": img.entrypoint,
            "ExposedPorts": ports,
            "Env": img.env,
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config)?;
    let config_name = format!("{}.json", hex(&config_bytes));
    files.push(Entry::file(&config_name, 0o644, config_bytes));
    let (repo, version) = img.tag.rsplit_once(':').unwrap_or((img.tag.as_str(), "latest"));
    let manifest = json!([{"Config": config_name, "RepoTags": [img.tag], "Layers": layer_paths}]);
    files.push(Entry::file("manifest.json", 0o644, serde_json::to_vec(&manifest)?));
    let repositories = json!({repo: {version: parent.unwrap_or_default()}});
    files.push(Entry::file("repositories", 0o644, serde_json::to_vec(&repositories)?));
    tar_of(&files)
}

/// Gzip at the best compression, without a timestamp or file name (reproducible).
pub fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    gzip_level(bytes, 9)
}

/// Gzip at a given level (1 fastest, 9 smallest), reproducible.
pub fn gzip_level(bytes: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(level));
    enc.write_all(bytes)?;
    enc.finish()
}

/// The plugin image: a static binary as the entrypoint, the spec at `/plugin.spec.yaml`, CA
/// certificates, an unprivileged user (`nobody`) owning the trigger state directories.
pub fn plugin_image(tag: &str, binary: Vec<u8>, spec: Vec<u8>, ca_bundle: Vec<u8>, vendor: &str, created: &str) -> Image {
    const NOBODY: u64 = 65534;
    let base = vec![
        Entry::dir("etc", 0o755, 0),
        Entry::file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n".to_vec(),
        ),
        Entry::file("etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\n".to_vec()),
        Entry::dir("etc/ssl", 0o755, 0),
        Entry::dir("etc/ssl/certs", 0o755, 0),
        Entry::file("etc/ssl/certs/ca-certificates.crt", 0o644, ca_bundle),
        Entry::dir("tmp", 0o1777, 0),
        Entry::dir("workspace", 0o755, NOBODY),
        Entry::dir("workspace/cache", 0o755, NOBODY),
        Entry::dir("workspace/tmp", 0o755, NOBODY),
    ];
    let app = vec![Entry::file("icon_haloitsm", 0o755, binary), Entry::file("plugin.spec.yaml", 0o644, spec)];
    Image {
        tag: tag.to_string(),
        layers: vec![
            ("base: user, CA certificates, state directories".into(), base),
            ("ADD ./plugin.spec.yaml /plugin.spec.yaml; the plugin binary".into(), app),
        ],
        user: "nobody".into(),
        entrypoint: vec!["/icon_haloitsm".into()],
        exposed_ports: vec!["10001/tcp".into()],
        env: vec!["PATH=/".into(), "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".into()],
        labels: vec![("organization".into(), vendor.into()), ("sdk".into(), "rust".into())],
        created: created.to_string(),
    }
}
