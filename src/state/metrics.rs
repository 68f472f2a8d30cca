//! Host samples for `metrics-YYYY-MM.jsonl` (spec §5.3, 0.3 delta §8): the
//! memory facts come from [`crate::sys::mem`] (so a test can point them at a
//! fixture tree), load from `/proc/loadavg`, disk from `statvfs`. Field order
//! matches upstream; a memory value that cannot be read is written as null.

use serde_json::{Map, Value};
use std::path::Path;

/// One host sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub mem_total_mb: u64,
    pub mem_available_mb: Option<u64>,
    pub mem_free_mb: Option<u64>,
    pub mem_used_pct: f64,
    pub swap_sout: Option<u64>,
    pub disk_total_gb: f64,
    pub disk_free_gb: f64,
    pub disk_used_pct: f64,
    pub inode_used_pct: Option<f64>,
    pub load: Option<(f64, f64, f64)>,
    pub psi_some_avg10: Option<f64>,
    pub psi_full_avg10: Option<f64>,
    pub psi_full_total: Option<u64>,
    pub io_psi_some_avg10: Option<f64>,
    pub io_psi_full_avg10: Option<f64>,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Take a sample; `fs_path` picks the filesystem for the disk fields (log_dir).
pub fn sample(fs_path: &Path) -> Sample {
    use crate::sys::mem;
    let mi = mem::meminfo();
    let total_kb = mi.total_kb.unwrap_or(0);
    let mut s = Sample {
        mem_total_mb: total_kb / 1024,
        mem_available_mb: mi.available_kb.map(|k| k / 1024),
        mem_free_mb: mi.free_kb.map(|k| k / 1024),
        mem_used_pct: match mi.available_kb {
            Some(avail_kb) if total_kb > 0 => {
                round1((total_kb - avail_kb.min(total_kb)) as f64 * 100.0 / total_kb as f64)
            }
            _ => 0.0,
        },
        swap_sout: mem::swap_out_bytes(),
        ..Default::default()
    };
    if let Ok(v) = nix::sys::statvfs::statvfs(fs_path) {
        let frsize = v.fragment_size() as f64;
        let total = v.blocks() as f64 * frsize;
        let free_all = v.blocks_free() as f64 * frsize;
        let avail = v.blocks_available() as f64 * frsize;
        let used = total - free_all;
        const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
        s.disk_total_gb = round1(total / GIB);
        s.disk_free_gb = round1(avail / GIB);
        s.disk_used_pct = if used + avail > 0.0 {
            round1(used * 100.0 / (used + avail))
        } else {
            0.0
        };
        let files = v.files() as f64;
        if files > 0.0 {
            s.inode_used_pct = Some(round1((files - v.files_free() as f64) * 100.0 / files));
        }
    }
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        let p: Vec<f64> = l
            .split_whitespace()
            .take(3)
            .filter_map(|x| x.parse().ok())
            .collect();
        if p.len() == 3 {
            s.load = Some((round2(p[0]), round2(p[1]), round2(p[2])));
        }
    }
    if let Some(p) = mem::psi("memory") {
        s.psi_some_avg10 = Some(p.some_avg10);
        s.psi_full_avg10 = Some(p.full_avg10);
        s.psi_full_total = p.full_total;
    }
    if let Some(p) = mem::psi("io") {
        s.io_psi_some_avg10 = Some(p.some_avg10);
        s.io_psi_full_avg10 = Some(p.full_avg10);
    }
    s
}

/// Count processes whose name equals `name` (upstream's `pgrep -xc`).
pub fn process_count(name: &str) -> u64 {
    crate::sys::proc::all()
        .iter()
        .filter(|p| p.comm == name.chars().take(15).collect::<String>())
        .count() as u64
}

impl Sample {
    /// The metrics record payload after `ts` and `event`, in upstream order.
    pub fn to_fields(
        &self,
        agent_process_count: Option<u64>,
        round_num: Option<u64>,
        phase: Option<&str>,
    ) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("mem_total_mb", self.mem_total_mb.into());
        put(
            "mem_available_mb",
            self.mem_available_mb
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        put("mem_used_pct", self.mem_used_pct.into());
        put("disk_total_gb", self.disk_total_gb.into());
        put("disk_free_gb", self.disk_free_gb.into());
        put("disk_used_pct", self.disk_used_pct.into());
        if let Some((a, b, c)) = self.load {
            put("load_1m", a.into());
            put("load_5m", b.into());
            put("load_15m", c.into());
        }
        put("cpu_pct", Value::from(0.0));
        if let Some(n) = agent_process_count {
            put("agent_process_count", n.into());
        }
        if let Some(r) = round_num {
            put("round_num", r.into());
        }
        if let Some(p) = phase {
            put("phase", p.into());
        }
        put(
            "mem_free_mb",
            self.mem_free_mb.map(Value::from).unwrap_or(Value::Null),
        );
        put(
            "swap_sout",
            self.swap_sout.map(Value::from).unwrap_or(Value::Null),
        );
        put(
            "psi_some_avg10",
            self.psi_some_avg10.map(Value::from).unwrap_or(Value::Null),
        );
        put(
            "psi_full_avg10",
            self.psi_full_avg10.map(Value::from).unwrap_or(Value::Null),
        );
        put(
            "psi_full_total",
            self.psi_full_total.map(Value::from).unwrap_or(Value::Null),
        );
        put(
            "io_psi_some_avg10",
            self.io_psi_some_avg10
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        put(
            "io_psi_full_avg10",
            self.io_psi_full_avg10
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        put(
            "inode_used_pct",
            self.inode_used_pct.map(Value::from).unwrap_or(Value::Null),
        );
        m
    }
}

/// Append one metrics record (`event` = `round_start`, `round_end` or `periodic`).
pub fn append(
    layout: &crate::state::Layout,
    event: &str,
    fields: Map<String, Value>,
) -> std::io::Result<()> {
    let now = chrono::Utc::now();
    let mut m = Map::new();
    m.insert("ts".into(), crate::timefmt::iso_ms(now).into());
    m.insert("event".into(), event.into());
    m.extend(fields);
    let mut line = crate::state::pyjson::to_line(&Value::Object(m));
    line.push('\n');
    crate::state::events::append_line(&layout.metrics_file(now), line.as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sample_reads_real_host() {
        let s = super::sample(std::path::Path::new("/"));
        assert!(s.mem_total_mb > 0);
        assert!(s.disk_total_gb > 0.0);
        assert!((0.0..=100.0).contains(&s.disk_used_pct));
        let f = s.to_fields(Some(0), Some(3), None);
        let keys: Vec<&str> = f.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            &keys[..3],
            &["mem_total_mb", "mem_available_mb", "mem_used_pct"]
        );
    }
}
