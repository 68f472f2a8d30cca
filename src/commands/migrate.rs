//! `agent-runner migrate [--dry-run]`: rewrite a 0.2-era config into the 0.3
//! shape (`config::migrate`), print what changed (one line per rewrite,
//! NOTE and MANUAL lines, then a unified diff) and keep a backup. Exit 0
//! when the file is clean or fully migrated, 1 when a MANUAL item remains
//! (the automatic rewrites are still written), 2 when the file cannot be
//! read or is not TOML (nothing written).

use super::{CliError, CmdResult, GlobalArgs};
use crate::config::migrate::{self, MigrateError};
use crate::exit_code;
use clap::Args;
use serde_json::json;

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Show the changes without writing the file.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(g: &GlobalArgs, a: &MigrateArgs) -> CmdResult {
    let m = migrate::migrate(&g.config).map_err(usage)?;
    let r = &m.report;
    let write = m.changed() && !a.dry_run;
    let backup = if write {
        Some(migrate::write(&m).map_err(|e| CliError::failure(e.to_string()))?)
    } else {
        None
    };
    if g.json {
        let v = json!({
            "path": m.path.display().to_string(),
            "applied": r.applied,
            "notes": r.notes,
            "manual": r.manual,
            "diff": m.diff(),
            "dry_run": a.dry_run,
            "written": backup.is_some(),
            "backup": backup.as_ref().map(|b| b.display().to_string()),
        });
        println!("{}", crate::state::pyjson::to_pretty(&v));
    } else {
        for l in &r.applied {
            println!("  rewrite: {l}");
        }
        for l in &r.notes {
            println!("  NOTE:    {l}");
        }
        for l in &r.manual {
            println!("  MANUAL:  {l}");
        }
        print!("{}", m.diff());
        match (&backup, m.changed(), a.dry_run) {
            (Some(b), _, _) => println!(
                "wrote {} (backup: {})",
                m.path.display(),
                b.file_name().map_or_else(
                    || b.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            (None, true, true) => println!("(dry-run \u{2014} no changes written)"),
            _ => println!("nothing to rewrite in {}", m.path.display()),
        }
    }
    Ok(if r.manual.is_empty() {
        exit_code::OK
    } else {
        exit_code::FAILURE
    })
}

fn usage(e: MigrateError) -> CliError {
    CliError::usage(e.to_string())
}
