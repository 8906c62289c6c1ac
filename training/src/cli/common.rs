//! What several subcommands share: precision flags, the config to load, report files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mmv_runtime::bundle::manifest::Precision;
use mmv_training::config::MmvConfig;

/// One precision named by `flag` (e.g. `--reference`): fp32, f16 or int8.
pub fn parse_precision(flag: &str, name: &str) -> anyhow::Result<Precision> {
    Precision::parse(name.trim())
        .ok_or_else(|| anyhow::anyhow!("{flag}: {name:?} is not one of fp32, f16, int8"))
}

/// `--precision`'s comma-separated list.
pub fn parse_precisions(list: &str) -> anyhow::Result<Vec<Precision>> {
    list.split(',')
        .map(|p| parse_precision("--precision", p))
        .collect()
}

/// Writes a report beside a bundle as `<stem>.json` and `<stem>.md`.
pub fn write_report(
    dir: &Path,
    stem: &str,
    rows: &impl serde::Serialize,
    md: &str,
) -> anyhow::Result<()> {
    for (ext, text) in [
        ("json", serde_json::to_string_pretty(rows)?),
        ("md", md.into()),
    ] {
        let path = dir.join(format!("{stem}.{ext}"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `--config`, or the embedded default config when absent.
pub fn load_config(path: Option<&PathBuf>) -> anyhow::Result<MmvConfig> {
    Ok(match path {
        Some(p) => MmvConfig::load(p)?,
        None => MmvConfig::embedded_default(),
    })
}
