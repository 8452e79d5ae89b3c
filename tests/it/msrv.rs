//! The declared minimum Rust version is the real one: no locked dependency needs a newer compiler than
//! `rust-version` in the workspace's `Cargo.toml`, and the README states the same version.
//!
//! Building with the declared toolchain (`cargo +1.xx check`) would prove more but costs a second cold
//! build; this reads what every locked registry package declares in the sources cargo already fetched.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};

fn parse_version(s: &str) -> Result<(u64, u64, u64)> {
    let mut parts = s.trim().split('.').map(str::parse::<u64>);
    let major = parts.next().context("empty version")??;
    let minor = parts.next().transpose()?.unwrap_or(0);
    let patch = parts.next().transpose()?.unwrap_or(0);
    Ok((major, minor, patch))
}

fn cargo_home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(h));
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(Path::new(&home).join(".cargo"))
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.parse::<toml::Table>()
        .with_context(|| format!("parse {}", path.display()))
}

/// The `rust-version` a fetched registry package declares, if its sources are on this machine.
fn declared_by(
    registry_src: &[PathBuf],
    name: &str,
    version: &str,
) -> Result<Option<Option<String>>> {
    for index in registry_src {
        let manifest = index.join(format!("{name}-{version}")).join("Cargo.toml");
        if manifest.is_file() {
            let t = read_toml(&manifest)?;
            let rv = t
                .get("package")
                .and_then(|p| p.get("rust-version"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            return Ok(Some(rv));
        }
    }
    Ok(None)
}

#[test]
fn declared_rust_version_covers_every_locked_dependency() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = read_toml(&root.join("Cargo.toml"))?;
    let declared_str = manifest
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("rust-version"))
        .and_then(|v| v.as_str())
        .context("workspace.package.rust-version is not set")?
        .to_owned();
    let declared = parse_version(&declared_str)?;

    let src = cargo_home()?.join("registry").join("src");
    let registry_src: Vec<PathBuf> = std::fs::read_dir(&src)
        .with_context(|| format!("read {}", src.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();

    let lock = read_toml(&root.join("Cargo.lock"))?;
    let packages = lock
        .get("package")
        .and_then(|p| p.as_array())
        .context("Cargo.lock has no packages")?;
    let (mut checked, mut highest) = (0usize, None::<((u64, u64, u64), String)>);
    let mut too_new = Vec::new();
    for p in packages {
        let source = p.get("source").and_then(|s| s.as_str()).unwrap_or("");
        if !source.starts_with("registry+") {
            continue;
        }
        let (Some(name), Some(version)) = (
            p.get("name").and_then(|s| s.as_str()),
            p.get("version").and_then(|s| s.as_str()),
        ) else {
            bail!("a Cargo.lock package without name or version");
        };
        // Packages for other platforms (windows-sys, ...) are locked but never fetched here.
        let Some(rv) = declared_by(&registry_src, name, version)? else {
            continue;
        };
        checked += 1;
        let Some(rv) = rv else { continue };
        let v =
            parse_version(&rv).with_context(|| format!("{name} {version}: rust-version {rv}"))?;
        if v > declared {
            too_new.push(format!("{name} {version} needs Rust {rv}"));
        }
        if highest.as_ref().is_none_or(|(h, _)| v > *h) {
            highest = Some((v, format!("{name} {version} ({rv})")));
        }
    }
    // The build fetched these, so their manifests must have been read: a guard against a check that
    // silently found nothing (another CARGO_HOME, a vendored registry).
    ensure!(
        checked > 200,
        "only {checked} locked packages found under {}: is this the CARGO_HOME the build used?",
        src.display()
    );
    ensure!(
        too_new.is_empty(),
        "Cargo.toml declares rust-version {declared_str}, but locked dependencies need more: {}",
        too_new.join(", ")
    );
    let (_, who) = highest.context("no locked package declares a rust-version")?;
    eprintln!("rust-version {declared_str} covers {checked} locked packages; the highest: {who}");

    let readme = std::fs::read_to_string(root.join("README.md"))?;
    ensure!(
        readme.contains(&format!("Rust {declared_str} or newer")),
        "README.md must state the minimum as \"Rust {declared_str} or newer\""
    );
    Ok(())
}
