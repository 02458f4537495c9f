//! `lvs-ctl generate`: the man pages and shell completions, made from the clap definitions so
//! they always match the binary (`cargo xtask package` runs it on the release build).

use super::{Cli, Generate};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::Path;

/// Writes or prints what `what` asks for.
pub(super) fn run(what: &Generate) -> Result<()> {
    match what {
        Generate::Man { dir } => {
            for file in man_pages(dir)? {
                println!("{}", file.display());
            }
            Ok(())
        }
        Generate::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "lvs-ctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// One section-8 page per visible command, nested ones too (`lvs-ctl.8`, `lvs-ctl-real-add.8`),
/// written into `dir`; returns the files written.
fn man_pages(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    // Building gives each subcommand its display name, `lvs-ctl-real-add`: the page's name.
    cmd.build();
    let mut written = Vec::new();
    let mut todo = vec![cmd];
    while let Some(cmd) = todo.pop() {
        todo.extend(cmd.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
        let source = format!("lvs-ctl {}", env!("CARGO_PKG_VERSION"));
        let man = clap_mangen::Man::new(cmd)
            .section("8")
            .source(source)
            .manual("System Administration");
        let file = man
            .generate_to(dir)
            .with_context(|| format!("writing {} in {}", man.get_filename(), dir.display()))?;
        written.push(file);
    }
    written.sort();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_gets_a_page_and_generate_none() {
        let dir = std::env::temp_dir().join(format!("lvs-man-{}", std::process::id()));
        let pages = man_pages(&dir).expect("generate the man pages");
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        std::fs::remove_dir_all(&dir).expect("remove the pages");
        for name in [
            "lvs-ctl.8",
            "lvs-ctl-daemon.8",
            "lvs-ctl-list.8",
            "lvs-ctl-real-add.8",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert!(
            !names
                .iter()
                .any(|n| n.contains("generate") || n.contains("help")),
            "hidden commands get no page: {names:?}"
        );
    }
}
