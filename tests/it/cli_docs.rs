//! What the binary says about itself, generated from the clap definitions:
//! `--version` (the line deploy compares, then target and commit),
//! `completions SHELL` (bash really completes verbs and flags with it) and
//! `man [VERB]` / `man --dir` (a page per verb, rendered by man(1) without a
//! warning). `scripts/dist --check` checks the same of each release tarball.

use std::path::Path;
use std::process::{Command, Output};

use agent_runner::commands::Cli;
use clap::CommandFactory;

use crate::support::BIN;

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The verbs, from the clap definitions.
fn verbs() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect()
}

#[test]
fn version_prints_the_version_then_target_and_commit() {
    let out = stdout(&run(&["--version"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    // deploy and doctor --host compare this line, exactly
    assert_eq!(lines[0], agent_runner::deploy::VERSION_LINE);
    assert_eq!(
        lines[0],
        format!("agent-runner {}", env!("CARGO_PKG_VERSION"))
    );
    let linkage = if cfg!(target_feature = "crt-static") {
        "static"
    } else {
        "dynamic"
    };
    let target = match option_env!("AGENT_RUNNER_TARGET") {
        Some(t) => format!("target: {t} ({linkage})"),
        None => format!(
            "target: unknown ({} {}, {linkage})",
            std::env::consts::ARCH,
            std::env::consts::OS
        ),
    };
    assert_eq!(lines[1], target);
    let commit = option_env!("AGENT_RUNNER_GIT_COMMIT").unwrap_or("unknown");
    assert_eq!(lines[2], format!("commit: {commit}"));
    // -V stays the one short line
    assert_eq!(stdout(&run(&["-V"])).trim_end(), lines[0]);
}

/// Ask bash, with the generated script loaded, to complete `words` (the last
/// one being completed): the candidates it offers.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        r#"source '{}' || exit 3
f=$(complete -p agent-runner | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[ -n "$f" ] || exit 4
COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"; COMP_POINT=${{#COMP_LINE}}
"$f" agent-runner "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        script.display(),
        words = quoted.join(" ")
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .expect("bash runs");
    stdout(&o).lines().map(str::to_string).collect()
}

#[test]
fn bash_completes_verbs_and_flags_from_the_clap_definitions() {
    let d = tempfile::tempdir().unwrap();
    let script = d.path().join("agent-runner.bash");
    std::fs::write(&script, stdout(&run(&["completions", "bash"]))).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    assert_eq!(bash_complete(&script, &["agent-runner", "dep"]), ["deploy"]);
    let all = bash_complete(&script, &["agent-runner", ""]);
    for v in verbs() {
        assert!(all.contains(&v), "'{v}' not offered: {all:?}");
    }
    assert_eq!(
        bash_complete(&script, &["agent-runner", "deploy", "--rem"]),
        ["--remote-path"]
    );
    let shells = bash_complete(&script, &["agent-runner", "completions", ""]);
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&s.to_string()), "{shells:?}");
    }
}

#[test]
fn zsh_and_fish_scripts_name_every_verb() {
    let zsh = stdout(&run(&["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef agent-runner"), "{zsh}");
    let fish = stdout(&run(&["completions", "fish"]));
    assert!(fish.contains("complete -c agent-runner"), "{fish}");
    for v in verbs() {
        assert!(zsh.contains(&format!("'{v}:")), "zsh lacks '{v}'");
        assert!(fish.contains(&format!("-a \"{v}\"")), "fish lacks '{v}'");
    }
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

/// Render a roff page with man(1): the text, or the warnings.
fn man_render(page: &Path) -> String {
    let o = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(page)
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "100")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .expect("man(1) renders the pages (apt-get install man-db)");
    let warnings = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && warnings.trim().is_empty(),
        "man warns on '{}': {warnings}",
        page.display()
    );
    // plain text: drop the overstrike man uses for bold and underline
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut plain = String::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn man_prints_a_page_for_the_tool_and_for_each_verb() {
    let d = tempfile::tempdir().unwrap();
    let top = d.path().join("top.1");
    std::fs::write(&top, stdout(&run(&["man"]))).unwrap();
    let text = man_render(&top);
    for v in verbs() {
        assert!(
            text.contains(&format!("agent-runner-{v}(1)")),
            "agent-runner(1) does not list '{v}':\n{text}"
        );
    }
    let page = d.path().join("deploy.1");
    std::fs::write(&page, stdout(&run(&["man", "deploy"]))).unwrap();
    let text = man_render(&page);
    assert!(text.contains("agent-runner-deploy"), "{text}");
    assert!(text.contains("--remote-path"), "{text}");
    // the global options are on every verb's page
    assert!(text.contains("--config"), "{text}");

    let o = run(&["man", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no verb 'nosuch'") && err.contains("deploy"),
        "{err}"
    );
}

#[test]
fn man_dir_writes_every_page() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("man/man1");
    let listed = stdout(&run(&["man", "--dir", dir.to_str().unwrap()]));
    let mut want = vec!["agent-runner.1".to_string()];
    want.extend(verbs().iter().map(|v| format!("agent-runner-{v}.1")));
    want.sort();
    let mut have: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    have.sort();
    assert_eq!(have, want);
    assert_eq!(listed.lines().count(), want.len(), "{listed}");
    for name in &have {
        man_render(&dir.join(name));
    }
    // a file in the way is a failure, said in one line
    let blocked = d.path().join("file");
    std::fs::write(&blocked, "").unwrap();
    let o = run(&["man", "--dir", blocked.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("agent-runner: cannot write the manual pages into"),
        "{err}"
    );
}
