//! `[schedule]` (and a phase's `[phases.<name>.schedule]`): the timezone and
//! the run and pause windows, each checked with the parser the scheduler
//! uses (`config::schedule`).

use super::keys::allowed;
use super::{Loader, R};
use crate::config::schedule::{check_timezone, parse_window};
use crate::config::ScheduleConfig;
use toml::{Table, Value};

impl Loader {
    pub(super) fn schedule(&self, t: &Table, prefix: &str) -> R<ScheduleConfig> {
        self.check_keys(t, prefix, &allowed("schedule"))?;
        let timezone = self.opt(t, prefix, "timezone", |l, v, key| {
            let tz = l.string(v, key)?;
            check_timezone(&tz).map_err(|e| l.err(key, e))?;
            Ok(tz)
        })?;
        let windows = |l: &Self, v: &Value, key: &str| -> R<Vec<String>> {
            let list = l.str_list(v, key)?;
            for (i, w) in list.iter().enumerate() {
                parse_window(w).map_err(|e| l.err(&format!("{key}[{i}]"), e))?;
            }
            Ok(list)
        };
        Ok(ScheduleConfig {
            timezone,
            run_windows: self
                .opt(t, prefix, "run_windows", windows)?
                .unwrap_or_default(),
            pause_windows: self
                .opt(t, prefix, "pause_windows", windows)?
                .unwrap_or_default(),
        })
    }
}
