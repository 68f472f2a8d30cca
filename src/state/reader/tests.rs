//! Reader tests: tails, cursors, torn lines, shard order.

use super::*;
use std::io::Write;

fn ev(ts: &str, kind: &str, n: u64) -> String {
    format!("{{\"ts\": \"{ts}\", \"event\": \"{kind}\", \"round_num\": {n}}}\n")
}

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

#[test]
fn cursor_round_trips_and_rejects_paths() {
    let c: Cursor = "events-2026-11.jsonl:12345".parse().unwrap();
    assert_eq!(c.file, "events-2026-11.jsonl");
    assert_eq!(c.offset, 12345);
    assert_eq!(c.to_string(), "events-2026-11.jsonl:12345");
    assert!("../events-2026-11.jsonl:1".parse::<Cursor>().is_err());
    assert!("events-2026-11.jsonl:x".parse::<Cursor>().is_err());
    assert!("events-26-11.jsonl:1".parse::<Cursor>().is_err());
    assert!(matches!(
        "2026-11-01T00:00:00Z".parse::<Since>(),
        Ok(Since::Ts(_))
    ));
    assert!("yesterday".parse::<Since>().is_err());
}

#[test]
fn tail_last_n_reads_backwards_across_months_and_skips_torn_and_corrupt() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("events-2026-10.jsonl");
    let b = d.path().join("events-2026-11.jsonl");
    let mut s = String::new();
    for i in 0..5000 {
        s.push_str(&ev("2026-10-01T00:00:00.000Z", "agent_exit", i));
    }
    append(&a, &s);
    append(&b, &ev("2026-11-01T00:00:00.000Z", "round_start", 5000));
    append(&b, "not json at all\n");
    append(&b, &ev("2026-11-01T00:00:01.000Z", "agent_exit", 5001));
    append(
        &b,
        "{\"ts\": \"2026-11-01T00:00:02.000Z\", \"event\": \"agent_ex",
    ); // torn
    let r = tail_last_n(d.path(), &["agent_exit"], 3).unwrap();
    let nums: Vec<u64> = r
        .lines
        .iter()
        .map(|l| l.value["round_num"].as_u64().unwrap())
        .collect();
    assert_eq!(nums, vec![4998, 4999, 5001]);
    let all = tail_last_n(d.path(), &[], 3).unwrap();
    assert_eq!(all.corrupt, 1);
    assert_eq!(all.lines[1].kind(), "round_start");
    // The newest line's cursor points just after it, before the torn bytes.
    let last = &all.lines[2];
    let len_b = std::fs::metadata(&b).unwrap().len();
    assert!(last.end.offset < len_b);
    assert_eq!(last.end.file, "events-2026-11.jsonl");
}

#[test]
fn event_tail_waits_for_torn_lines_and_survives_truncation_rotation_deletion() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("events-2026-11.jsonl");
    append(&a, &ev("2026-11-01T00:00:00.000Z", "round_start", 1));
    append(
        &a,
        "garbage\n{\"ts\": \"2026-11-01T00:00:01.000Z\", \"event\": \"round_",
    );
    let mut t = EventTail::from_start(d.path());
    let got = t.poll().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(t.corrupt(), 1);
    // Writer finishes the line.
    append(&a, "end\", \"round_num\": 1}\n");
    let got = t.poll().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind(), "round_end");
    assert!(t.poll().unwrap().is_empty());
    // Month rollover: a new file is read from its start.
    let b = d.path().join("events-2026-12.jsonl");
    append(&b, &ev("2026-12-01T00:00:00.000Z", "round_start", 2));
    let got = t.poll().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(t.cursor().unwrap().file, "events-2026-12.jsonl");
    // Truncation: re-read from 0.
    std::fs::write(&b, ev("2026-12-01T00:00:05.000Z", "agent_exit", 2)).unwrap();
    let got = t.poll().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].kind(), "agent_exit");
    // Replacement by a bigger file (rotation): new inode → from 0.
    let tmp = d.path().join("tmp");
    let mut big = String::new();
    for i in 0..10 {
        big.push_str(&ev("2026-12-01T00:00:06.000Z", "round_end", i));
    }
    std::fs::write(&tmp, &big).unwrap();
    std::fs::rename(&tmp, &b).unwrap();
    assert_eq!(t.poll().unwrap().len(), 10);
    // Deletion: forgotten, no error.
    std::fs::remove_file(&b).unwrap();
    assert!(t.poll().unwrap().is_empty());
    assert_eq!(t.cursor().unwrap().file, "events-2026-11.jsonl");
}

#[test]
fn at_end_skips_history_and_since_resumes_without_gap_or_duplicate() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("events-2026-10.jsonl");
    let b = d.path().join("events-2026-11.jsonl");
    append(&a, &ev("2026-10-31T23:59:59.000Z", "round_start", 1));
    append(&b, &ev("2026-11-01T00:00:00.000Z", "round_end", 1));
    append(&b, &ev("2026-11-02T00:00:00.000Z", "round_start", 2));
    let mut t = EventTail::at_end(d.path());
    assert!(t.poll().unwrap().is_empty());
    append(&b, &ev("2026-11-03T00:00:00.000Z", "round_end", 2));
    assert_eq!(t.poll().unwrap().len(), 1);

    let ts: Since = "2026-11-02T00:00:00Z".parse().unwrap();
    let (lines, mut follow) = since(d.path(), &ts).unwrap();
    assert_eq!(lines.len(), 2);
    let c = lines[0].end.clone();
    let (again, _) = since(d.path(), &Since::Cursor(c)).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].kind(), "round_end");
    append(&b, &ev("2026-11-04T00:00:00.000Z", "round_start", 3));
    let more = follow.poll().unwrap();
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].value["round_num"], 3);
}

#[test]
fn a_follow_on_line_longer_than_the_read_buffer_arrives_whole() {
    // The follow-on buffer is sized to what was there at the stat (4 KiB
    // at least); a line longer than that, or one that grows while it is
    // read, still comes out whole and the cursor lands after it.
    let d = tempfile::tempdir().unwrap();
    let b = d.path().join("events-2026-11.jsonl");
    append(&b, &ev("2026-11-01T00:00:00.000Z", "round_start", 1));
    let mut t = EventTail::at_end(d.path());
    let raw = "x".repeat(300 * 1024);
    let long = format!(
        "{{\"ts\": \"2026-11-01T00:00:01.000Z\", \"event\": \"agent_output\", \"raw\": \"{raw}\"}}\n"
    );
    append(&b, &long);
    append(&b, &ev("2026-11-01T00:00:02.000Z", "round_end", 1));
    let got = t.poll().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].value["raw"].as_str().map(str::len), Some(300 * 1024));
    assert_eq!(got[1].kind(), "round_end");
    let end = std::fs::metadata(&b).unwrap().len();
    assert_eq!(t.cursor().unwrap().offset, end);
    assert!(t.poll().unwrap().is_empty());
}

#[test]
fn tail_text_keeps_partial_last_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("R1-x.log");
    std::fs::write(&p, "a\nb\nc").unwrap();
    assert_eq!(tail_text(&p, 2).unwrap(), "b\nc\n");
    assert_eq!(tail_text(&p, 10).unwrap(), "a\nb\nc\n");
}
