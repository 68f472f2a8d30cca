//! Reader tests: following files by identity (rotation, truncation,
//! re-creation, renamed away and back, clock steps, resumes from a
//! position), the cursor and position text forms, and lines too long to keep.

use super::*;
use std::io::Write;

fn ev(kind: &str, n: u64) -> String {
    // Distinct first lines: a file's identity includes its first line.
    format!("{{\"ts\": \"2026-12-01T00:00:00.{n:03}Z\", \"event\": \"{kind}\", \"seq\": {n}}}\n")
}

fn append(p: &Path, s: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn put(p: &Path, from: u64, to: u64) {
    let s: String = (from..to).map(|i| ev("tick", i)).collect();
    append(p, &s);
}

fn seqs(lines: &[Line]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.value.get("seq").and_then(|v| v.as_u64()))
        .collect()
}

fn changes(t: &mut EventTail) -> Vec<(String, Change)> {
    t.take_notices()
        .into_iter()
        .map(|n| (n.file, n.change))
        .collect()
}

const F: &str = "events-2026-12.jsonl";

#[test]
fn cursor_forms_old_and_with_identity_and_positions_parse_and_round_trip() {
    let old: Cursor = "events-2026-11.jsonl:12345".parse().unwrap();
    assert_eq!(old.id, None);
    assert_eq!(old.to_string(), "events-2026-11.jsonl:12345");
    let new: Cursor = "events-2026-11.jsonl:12345:8812345.00000000000000ff"
        .parse()
        .unwrap();
    assert_eq!(
        new.id,
        Some(FileId {
            ino: 8812345,
            head: 255
        })
    );
    assert_eq!(
        new.to_string(),
        "events-2026-11.jsonl:12345:8812345.00000000000000ff"
    );
    assert_eq!(new.legacy(), "events-2026-11.jsonl:12345");
    for bad in [
        "events-2026-11.jsonl:1:2",
        "events-2026-11.jsonl:1:x.00000000000000ff",
        "events-2026-11.jsonl:1:2.ff",
        "events-2026-11.jsonl:1:2.00000000000000ff:9",
        "../events-2026-11.jsonl:1",
    ] {
        assert!(bad.parse::<Cursor>().is_err(), "{bad}");
    }
    let p: Position = format!("pos:{new},events-2025-06.jsonl:9:7.0000000000000001")
        .parse()
        .unwrap();
    assert_eq!(p.cursors().len(), 2);
    assert_eq!(p.to_string().parse::<Position>().unwrap(), p);
    assert_eq!("pos:".parse::<Position>().unwrap(), Position::default());
    assert!(
        "pos:events-2026-11.jsonl:5".parse::<Position>().is_err(),
        "no identity"
    );
    assert!(matches!(
        format!("{p}").parse::<Since>(),
        Ok(Since::Position(_))
    ));
    assert!(matches!(
        "events-2026-11.jsonl:1".parse::<Since>(),
        Ok(Since::Cursor(_))
    ));
}

#[test]
fn a_position_takes_each_line_once_and_stays_bounded() {
    let id = |ino, head| Some(FileId { ino, head });
    let c = |file: &str, offset, id| Cursor {
        file: file.into(),
        offset,
        id,
    };
    let mut p = Position::default();
    assert!(p.advance(&c(F, 10, id(1, 1))));
    assert!(!p.advance(&c(F, 10, id(1, 1))), "same line again");
    assert!(!p.advance(&c(F, 5, id(1, 1))), "an earlier line");
    // Another file under the same name (rotated): its lines are new.
    assert!(p.advance(&c(F, 5, id(2, 2))));
    // A name that sorts first (a clock stepped back): new as well.
    assert!(p.advance(&c("events-2025-06.jsonl", 5, id(3, 3))));
    assert!(p.covers(&c(F, 10, id(1, 1))));
    // A third identity under one name drops the oldest of that name.
    assert!(p.advance(&c(F, 1, id(4, 4))));
    assert!(!p.covers(&c(F, 1, id(1, 1))));
    assert_eq!(p.cursors().len(), 3);
    assert!(!p.advance(&c(F, 99, None)), "no identity: never taken here");
    let mut big = Position::default();
    for i in 0..(MAX_POSITION as u64 + 10) {
        big.advance(&c(&format!("events-{:04}-01.jsonl", 1000 + i), 1, id(i, i)));
    }
    assert_eq!(big.cursors().len(), MAX_POSITION);
}

#[test]
fn a_rotated_file_gives_its_remainder_then_the_new_file_from_its_start() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(F);
    put(&f, 0, 5);
    let mut t = EventTail::from_start(d.path());
    assert_eq!(seqs(&t.poll().unwrap()), vec![0, 1, 2, 3, 4]);
    // Appended, then rotated away before the next poll, and a new file.
    put(&f, 5, 8);
    std::fs::rename(&f, d.path().join("events-2026-12.jsonl.rotated")).unwrap();
    put(&f, 100, 102);
    let got = t.poll().unwrap();
    assert_eq!(seqs(&got), vec![5, 6, 7, 100, 101]);
    assert_eq!(changes(&mut t), vec![(F.to_string(), Change::Replaced)]);
    // The two files have different identities in their cursors.
    assert_ne!(got[0].end.id, got[3].end.id);
    assert!(got.iter().all(|l| l.end.file == F));
    assert!(t.poll().unwrap().is_empty());
}

#[test]
fn a_file_truncated_and_refilled_before_a_poll_is_read_again_from_its_start() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(F);
    put(&f, 0, 3);
    let mut t = EventTail::from_start(d.path());
    assert_eq!(t.poll().unwrap().len(), 3);
    // Truncated in place and refilled past the old offset (same inode).
    std::fs::write(&f, "").unwrap();
    put(&f, 10, 20);
    assert_eq!(seqs(&t.poll().unwrap()), (10..20).collect::<Vec<_>>());
    assert_eq!(changes(&mut t), vec![(F.to_string(), Change::Truncated)]);
    // Truncated to less than what was read.
    std::fs::write(&f, ev("tick", 30)).unwrap();
    assert_eq!(seqs(&t.poll().unwrap()), vec![30]);
    assert_eq!(changes(&mut t), vec![(F.to_string(), Change::Truncated)]);
}

#[test]
fn a_deleted_and_recreated_file_loses_nothing_even_where_the_inode_is_reused() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(F);
    // Read: the tail keeps it open, its remainder is read after the delete.
    put(&f, 0, 3);
    let mut t = EventTail::from_start(d.path());
    assert_eq!(t.poll().unwrap().len(), 3);
    put(&f, 3, 5);
    std::fs::remove_file(&f).unwrap();
    put(&f, 50, 52);
    assert_eq!(seqs(&t.poll().unwrap()), vec![3, 4, 50, 51]);
    assert_eq!(changes(&mut t), vec![(F.to_string(), Change::Replaced)]);
    // Never read (history at the end): the filesystem may give the new file
    // the old inode number; its first line tells them apart.
    let mut t = EventTail::at_end(d.path());
    for round in 0..3u64 {
        std::fs::remove_file(&f).unwrap();
        put(&f, 200 + round * 10, 210 + round * 10);
        let got = seqs(&t.poll().unwrap());
        assert_eq!(
            got,
            (200 + round * 10..210 + round * 10).collect::<Vec<_>>(),
            "round {round}"
        );
        assert_eq!(changes(&mut t).len(), 1, "round {round}");
    }
}

#[test]
fn a_file_renamed_away_and_back_is_not_read_again() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(F);
    put(&f, 0, 4);
    let mut t = EventTail::from_start(d.path());
    assert_eq!(t.poll().unwrap().len(), 4);
    let away = d.path().join("away");
    std::fs::rename(&f, &away).unwrap();
    assert!(t.poll().unwrap().is_empty());
    assert_eq!(changes(&mut t), vec![(F.to_string(), Change::Gone)]);
    std::fs::rename(&away, &f).unwrap();
    assert!(t.poll().unwrap().is_empty(), "sent again");
    put(&f, 4, 5);
    assert_eq!(seqs(&t.poll().unwrap()), vec![4]);
    assert!(changes(&mut t).is_empty());
}

#[test]
fn a_clock_stepping_back_and_forward_loses_nothing_after_a_cursor() {
    let d = tempfile::tempdir().unwrap();
    let jan = d.path().join("events-2026-01.jsonl");
    let may = d.path().join("events-2025-05.jsonl");
    let jun = d.path().join("events-2025-06.jsonl");
    let feb = d.path().join("events-2026-02.jsonl");
    put(&may, 900, 902); // history of a past year
    put(&jan, 0, 3);
    let last = tail_last_n(d.path(), &[], 1).unwrap().lines.remove(0);
    let mut t = EventTail::from_cursor(d.path(), &last.end);
    put(&jan, 3, 5);
    put(&jun, 5, 7); // new, named before the cursor's file
    put(&may, 7, 9); // history, appended to after the clock stepped back
    put(&feb, 9, 11);
    let mut got = seqs(&t.poll().unwrap());
    got.sort();
    assert_eq!(got, (3..11).collect::<Vec<_>>());
    assert!(t.poll().unwrap().is_empty());
}

#[test]
fn a_position_resumes_exactly_whatever_the_names_and_moves() {
    let d = tempfile::tempdir().unwrap();
    let jan = d.path().join("events-2026-01.jsonl");
    let feb = d.path().join("events-2026-02.jsonl");
    put(&jan, 0, 3);
    put(&feb, 3, 5);
    let mut t = EventTail::from_start(d.path());
    assert_eq!(t.poll().unwrap().len(), 5);
    let p = t.position();
    assert_eq!(p.cursors().len(), 2);
    drop(t);
    // While nobody reads: appends, a new file named first, and a rotation
    // of February with lines the reader never saw.
    put(&jan, 5, 6);
    put(&d.path().join("events-2025-06.jsonl"), 6, 8);
    put(&feb, 8, 9);
    std::fs::rename(&feb, d.path().join("events-2026-02.jsonl.1")).unwrap();
    put(&feb, 9, 10);
    let text = p.to_string();
    let (lines, mut t) = since(d.path(), &text.parse().unwrap()).unwrap();
    let mut got = seqs(&lines);
    got.sort();
    assert_eq!(got, (5..10).collect::<Vec<_>>());
    let ch = changes(&mut t);
    assert!(
        ch.contains(&(
            "events-2026-02.jsonl".into(),
            Change::Moved("events-2026-02.jsonl.1".into())
        )),
        "{ch:?}"
    );
    assert!(
        ch.contains(&("events-2026-02.jsonl".into(), Change::Replaced)),
        "{ch:?}"
    );
    assert!(t.poll().unwrap().is_empty());
    // The rotated file comes back under its name: nothing is sent again.
    std::fs::remove_file(&feb).unwrap();
    std::fs::rename(d.path().join("events-2026-02.jsonl.1"), &feb).unwrap();
    assert!(t.poll().unwrap().is_empty(), "sent again");
}

/// A line of `len` bytes (a `huge` event with a blob), newline included.
fn huge(len: usize) -> Vec<u8> {
    let mut l = b"{\"ts\": \"2026-12-01T00:00:00.000Z\", \"event\": \"huge\", \"round_num\": 3, \"blob\": \"".to_vec();
    l.resize(len - 3, b'x');
    l.extend_from_slice(b"\"}\n");
    l
}

#[test]
fn a_huge_line_is_read_past_as_a_stub_even_while_it_is_written() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(F);
    put(&f, 0, 1);
    let mut t = EventTail::from_start(d.path());
    assert_eq!(t.poll().unwrap().len(), 1);
    let big = huge(5 << 20);
    // Written in two pieces: the first poll sees a torn huge line.
    append(&f, std::str::from_utf8(&big[..3 << 20]).unwrap());
    assert!(t.poll().unwrap().is_empty());
    append(&f, std::str::from_utf8(&big[3 << 20..]).unwrap());
    put(&f, 1, 2);
    let got = t.poll().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].cut, Some(big.len() as u64 - 1));
    assert!(got[0].text.len() < 300, "{}", got[0].text);
    assert_eq!(got[0].value["truncated"], true);
    assert_eq!(got[0].kind(), "huge");
    assert_eq!(got[0].value["round_num"], 3);
    assert_eq!(seqs(&got[1..]), vec![1]);
    let len = std::fs::metadata(&f).unwrap().len();
    assert_eq!(t.cursor().unwrap().offset, len);
    // A lower cap (the probe's): a 100 KiB line is a stub too, in a
    // replay as in a follow.
    let mut t = EventTail::at_end(d.path());
    t.max_line(64 * 1024);
    let c = t.cursor().unwrap();
    append(&f, std::str::from_utf8(&huge(100 * 1024)).unwrap());
    let got = t.poll().unwrap();
    assert_eq!(got[0].cut, Some(100 * 1024 - 1));
    let (got, _) = since_capped(d.path(), &Since::Cursor(c), 64 * 1024).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].cut, Some(100 * 1024 - 1));
}

#[test]
fn the_reverse_reader_caps_one_line_too() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(F);
    put(&f, 0, 1);
    append(&f, std::str::from_utf8(&huge(3 << 20)).unwrap());
    put(&f, 1, 2);
    // A torn huge tail is skipped without being held.
    append(
        &f,
        std::str::from_utf8(&huge(2 << 20)[..(2 << 20) - 1]).unwrap(),
    );
    let r = tail_last_n(d.path(), &[], 3).unwrap();
    assert_eq!(r.lines.len(), 3);
    assert_eq!(seqs(&r.lines[..1]), vec![0]);
    assert_eq!(r.lines[1].cut, Some((3 << 20) - 1));
    assert_eq!(r.lines[1].kind(), "huge");
    assert_eq!(seqs(&r.lines[2..]), vec![1]);
    let kinds = tail_last_n(d.path(), &["huge"], 5).unwrap();
    assert_eq!(kinds.lines.len(), 1);
    // Round-log text: the line's start and a marker, the total bounded.
    let log = d.path().join("R1.log");
    let mut text = b"first\n".to_vec();
    text.extend_from_slice(&huge(1 << 20));
    text.extend_from_slice(b"last\n");
    std::fs::write(&log, &text).unwrap();
    let t = tail_text(&log, 10).unwrap();
    assert!(t.starts_with("first\n{\"ts\""), "{}", &t[..40]);
    assert!(t.contains("[a line of 1048575 bytes, cut]"));
    assert!(t.ends_with("last\n"));
    assert!(t.len() < TEXT_LINE_MAX + 100, "{}", t.len());
    let many: String = (0..10_000).map(|i| format!("{i:0200}\n")).collect();
    std::fs::write(&log, many).unwrap();
    let t = tail_text(&log, 5000).unwrap();
    assert!(t.len() <= TEXT_MAX, "{}", t.len());
    assert!(t.ends_with(&format!("{:0200}\n", 9999)));
}
