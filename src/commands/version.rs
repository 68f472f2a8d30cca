//! What `--version` prints. Its first line is `agent-runner <version>`
//! exactly: `deploy` and `doctor --host` compare it with this build's
//! ([`crate::deploy::VERSION_LINE`]). Then the target and the commit:
//!
//! ```text
//! agent-runner 0.1.0
//! target: armv7-unknown-linux-gnueabihf (static)
//! commit: 55a95c5f1e2d
//! ```
//!
//! There is no build script: the triple and the commit are environment
//! variables read when this crate is compiled (`option_env!`), set by
//! `scripts/dist` for the builds it packages (`AGENT_RUNNER_TARGET`,
//! `AGENT_RUNNER_GIT_COMMIT`); a plain `cargo build` says `unknown` and the
//! architecture. The architecture and the linkage come from the compiler
//! (`std::env::consts::ARCH`, `cfg!(target_feature = "crt-static")`), so they
//! cannot be wrong, and a build whose `AGENT_RUNNER_TARGET` names another
//! architecture does not compile.

use std::sync::OnceLock;

/// The Rust target triple this binary was built for, as the build said.
pub const TARGET: Option<&str> = option_env!("AGENT_RUNNER_TARGET");
/// The git commit it was built from (`-dirty` when the tree had changes).
pub const COMMIT: Option<&str> = option_env!("AGENT_RUNNER_GIT_COMMIT");
/// How the C library is linked in.
pub const LINKAGE: &str = if cfg!(target_feature = "crt-static") {
    "static"
} else {
    "dynamic"
};

/// `t` starts with `arch` (a triple's first field is the arch or a
/// refinement of it: `armv7` for `arm`).
const fn names_arch(t: &str, arch: &str) -> bool {
    let (t, a) = (t.as_bytes(), arch.as_bytes());
    if t.len() < a.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if t[i] != a[i] {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = if let Some(t) = TARGET {
    assert!(
        names_arch(t, std::env::consts::ARCH),
        "AGENT_RUNNER_TARGET names another architecture than the one being built"
    )
};

/// What clap prints after the program name for `--version`: the version,
/// then the target and commit lines.
pub fn long_version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let target = match TARGET {
            Some(t) => format!("{t} ({LINKAGE})"),
            None => format!(
                "unknown ({} {}, {LINKAGE})",
                std::env::consts::ARCH,
                std::env::consts::OS
            ),
        };
        format!(
            "{}\ntarget: {target}\ncommit: {}",
            env!("CARGO_PKG_VERSION"),
            COMMIT.unwrap_or("unknown")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_triple_names_its_arch() {
        assert!(names_arch("armv7-unknown-linux-gnueabihf", "arm"));
        assert!(names_arch("aarch64-unknown-linux-gnu", "aarch64"));
        assert!(names_arch("x86_64-unknown-linux-gnu", "x86_64"));
        assert!(!names_arch("aarch64-unknown-linux-gnu", "arm"));
        assert!(!names_arch("x86", "x86_64"));
    }

    #[test]
    fn the_first_line_is_what_deploy_compares() {
        let v = format!("agent-runner {}", long_version());
        assert_eq!(v.lines().next(), Some(crate::deploy::VERSION_LINE));
        assert!(v.lines().nth(1).is_some_and(|l| l.starts_with("target: ")));
        assert!(v.lines().nth(2).is_some_and(|l| l.starts_with("commit: ")));
    }
}
