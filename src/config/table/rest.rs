//! The key table: `[phases]` and `[phases.<name>]`, `[plugins]`,
//! `[schedule]`, `[goal]` and `[[goal.checks]]`.

use super::def::{alias, lit, text};
use super::Key;
use super::Shown::Test;

const PHASE: &str = "tests/it/config_effects.rs::a_phase_table_changes_its_rounds";
const OLD_NAMES: &str = "tests/it/config_effects.rs::old_names_load_like_their_0_3_names";
const CHECKS: &str = "tests/it/goal.rs::checks_run_after_the_agent_and_before_the_stash";

#[rustfmt::skip]
pub(super) const KEYS: &[Key] = &[
    // ---- [phases] ----
    lit("phases", "list", "list", "[]", "`[]`",
        "phase rotation: round N runs `list[(N-1) % len]` (its name is in `AGENT_RUNNER_PHASE` and the events); empty = no phases",
        Test(PHASE)),
    lit("phases", "phase_policy", "`\"wait\"` \\| `\"skip\"`", "\"wait\"", "`\"wait\"`",
        "0.3: what `serve` does when the rotation's phase is outside its window: idle until it opens, or run the next phase whose window is open",
        Test("tests/it/serve.rs::skip_policy_steps_over_a_closed_phase")),
    text("phases", "<name>", "table", "—",
        "what one phase changes; `<name>` must be in `list`. Only `list` and `phase_policy` may be scalars under `[phases]`.",
        Test(PHASE)),
    text("phases.<name>", "round_budget_s", "int > 0", "`runtime.round_budget_s`",
        "0.3 name: this phase's round limit", Test(PHASE)),
    alias("phases.<name>", "round_timeout_s", "phases.<name>.round_budget_s", Test(OLD_NAMES)),
    text("phases.<name>", "runtime", "table", "—",
        "may hold only `round_budget_s` / `round_timeout_s`, the nested twin of the flat key (setting both forms is an error)",
        Test(PHASE)),
    text("phases.<name>.runtime", "round_budget_s", "int > 0", "`runtime.round_budget_s`",
        "this phase's round limit", Test(PHASE)),
    alias("phases.<name>.runtime", "round_timeout_s", "phases.<name>.runtime.round_budget_s", Test(OLD_NAMES)),
    text("phases.<name>", "disable_pre_round_hooks", "bool", "—",
        "0.2 key, accepted so 0.2 files load; no effect", Test(OLD_NAMES)),
    text("phases.<name>", "prompt", "table", "—",
        "may hold only `files`", Test(PHASE)),
    text("phases.<name>.prompt", "files", "list of paths", "`prompt.files`",
        "this phase's prompt files; `[]` = send no prompt (then the phase's agent needs no `{prompt}`)",
        Test(PHASE)),
    text("phases.<name>", "agent", "table", "`[agent]`",
        "keys of `[agent]` merged one by one onto the base `[agent]` and validated as a whole; `exec_prefix` is refused here",
        Test(PHASE)),
    text("phases.<name>", "schedule", "table", "`[schedule]`",
        "replaces the global windows for this phase; inherits the global `timezone` if it sets none",
        Test("tests/it/serve.rs::wait_policy_idles_until_the_rotation_phase_window_opens")),
    // ---- [plugins] ----
    lit("plugins", "disable", "list", "[]", "`[]`",
        "names of built-in output parsers to turn off (`claude`, `gemini`, `codewhale`, `codex`, `kimi`, `pi`): their events are not emitted. The recognition of the agent's words ([agents.md](agents.md): not logged in, needs a human, rate limited) is not a parser and still runs. Another name only warns (a 0.2 hook name gets the name to write).",
        Test("tests/it/parsers.rs::plugins_disable_turns_the_named_parser_off")),
    // ---- [schedule] ----
    text("schedule", "timezone", "string", "host local time",
        "an IANA zone such as `Europe/Berlin` the windows are read in; checked against the host's tz database when it has one",
        Test("src/serve/schedule_gate.rs::run_windows_in_a_dst_zone_use_the_local_offset")),
    lit("schedule", "run_windows", "list of windows", "[]", "`[]` = always",
        "rounds start only inside one of these",
        Test("tests/it/serve.rs::outside_the_run_windows_serve_pauses_and_ignore_schedule_runs_anyway")),
    lit("schedule", "pause_windows", "list of windows", "[]", "`[]`",
        "rounds never start inside these",
        Test("tests/it/serve.rs::a_pause_window_holds_rounds_and_sigterm_ends_the_pause_at_once")),
    // ---- [goal] ----
    text("goal", "ledger", "path, required", "—",
        "the file advisories are prepended to (newest first, cut to 8 KiB). It must be one of the prompt files at index 1 or later for every phase, and must lie under `log_dir` or outside `work_dir` (else the stash would sweep it away).",
        Test("tests/it/goal.rs::a_treadmill_gets_one_advisory_in_the_ledger_and_the_next_prompt")),
    text("goal", "checks", "array of tables", "`[]`",
        "objective checks run after each round's agent exits, before the dirty tree is handled; one `goal_check` event each",
        Test(CHECKS)),
    text("goal.checks[]", "name", "string, required", "—",
        "the check's name in `goal_check` and in advisories", Test(CHECKS)),
    text("goal.checks[]", "cmd", "list, required, non-empty", "—",
        "argv, run in its own process group; exit 0 = satisfied, and the last number it prints is its `value`",
        Test(CHECKS)),
    text("goal.checks[]", "cwd", "string", "`work_dir`",
        "where it runs; relative to `work_dir`", Test(CHECKS)),
    lit("goal.checks[]", "timeout_s", "int 1..30", "10", "`10`",
        "its limit: SIGTERM to its group, 3 s, SIGKILL; `timed_out: true`",
        Test("tests/it/goal.rs::a_hung_check_and_its_group_are_killed_at_its_timeout")),
];
