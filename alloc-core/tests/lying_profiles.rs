//! Profiles that lie are rejected with one line naming the field at fault,
//! never a panic and never a wrong report. Each case changes one thing in a
//! valid profile and pins the whole message.

mod common;

use alloc_core::format::{Bucket, EventKind, Mode, Profile, ThreadInfo};
use alloc_core::load::{LoadError, parse_profile};
use serde_json::{Value, json};

/// A change that makes a profile lie, and the message that must name it.
type Lie = (fn(&mut Profile), &'static str);

fn message(p: &Profile) -> String {
    let bytes = serde_json::to_vec(p).unwrap();
    let err = parse_profile(&bytes).expect_err("the lie was not caught");
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text:?}");
    text
}

fn message_of(v: &Value) -> String {
    let err = parse_profile(&serde_json::to_vec(v).unwrap()).expect_err("accepted");
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text:?}");
    text
}

#[test]
fn the_base_profiles_are_valid() {
    common::assert_valid(&common::exact());
    common::assert_valid(&common::sampled());
}

#[test]
fn references_out_of_range() {
    let mut p = common::exact();
    p.callsites[3].stack = 9;
    assert_eq!(
        message(&p),
        "inconsistent profile: callsites[3].stack: stack index 9 out of range (4 stacks)"
    );
    let mut p = common::exact();
    p.stacks[1].frames[0] = 99;
    assert_eq!(
        message(&p),
        "inconsistent profile: stacks[1].frames: frame index 99 out of range (9 frames)"
    );
    let mut p = common::exact();
    p.events.items[2].stack = Some(4);
    assert_eq!(
        message(&p),
        "inconsistent profile: events.items[2].stack: stack index 4 out of range (4 stacks)"
    );
    let mut p = common::exact();
    p.callsites[2].stack = 0;
    assert_eq!(
        message(&p),
        "inconsistent profile: callsites[2].stack: stack 0 already belongs to callsites[0]; a stack has one callsite"
    );
}

#[test]
fn absurd_lengths_and_sizes() {
    let mut p = common::exact();
    p.stacks[0].frames = vec![0; alloc_core::load::MAX_STACK_FRAMES + 1];
    assert_eq!(
        message(&p),
        "inconsistent profile: stacks[0].frames: 4097 frames, more than a profile's stacks hold (at most 4096)"
    );
    let mut p = common::exact();
    p.events.items[0].size = u64::MAX;
    assert_eq!(
        message(&p),
        "inconsistent profile: events.items[0].size: 18446744073709551615 bytes, more than any allocation can have (isize::MAX)"
    );
    let mut p = common::exact();
    p.events.items[1].old_size = Some(1 << 63);
    assert!(
        message(&p).starts_with(
            "inconsistent profile: events.items[1].old_size: 9223372036854775808 bytes"
        )
    );
    let mut p = common::exact();
    p.events.items[0].align = 12;
    assert_eq!(
        message(&p),
        "inconsistent profile: events.items[0].align: 12 is not an alignment (a power of two up to 2^62)"
    );
}

#[test]
fn negative_and_mistyped_numbers_name_their_path() {
    let mut v = serde_json::to_value(common::exact()).unwrap();
    v["callsites"][3]["bytes"] = json!(-16);
    assert!(message_of(&v).starts_with(
        "malformed profile: callsites[3].bytes: invalid value: integer `-16`, expected u64 at line 1 column "
    ));
    let mut v = serde_json::to_value(common::exact()).unwrap();
    v["histograms"]["size"][0]["lo"] = json!(1.5);
    assert!(message_of(&v).starts_with(
        "malformed profile: histograms.size[0].lo: invalid type: floating point `1.5`, expected u64"
    ));
    let mut v = serde_json::to_value(common::exact()).unwrap();
    v["totals"]["live_bytes"] = json!("lots");
    assert!(message_of(&v).starts_with(
        "malformed profile: totals.live_bytes: invalid type: string \"lots\", expected u64"
    ));
    let mut v = serde_json::to_value(common::exact()).unwrap();
    v["meta"].as_object_mut().unwrap().remove("pid");
    assert!(
        message_of(&v).starts_with("malformed profile: meta: missing field `pid`"),
        "{}",
        message_of(&v)
    );
    let mut v = serde_json::to_value(common::exact()).unwrap();
    v["events"]["items"][1]["kind"] = json!("free");
    assert!(
        message_of(&v)
            .starts_with("malformed profile: events.items[1].kind: unknown variant `free`")
    );
    let mut v = serde_json::to_value(common::exact()).unwrap();
    v["format_version"] = json!("1");
    assert_eq!(
        message_of(&v),
        "malformed profile: format_version: missing or not a positive integer"
    );
}

#[test]
fn callsite_figures_that_cannot_be() {
    let cases: [Lie; 5] = [
        (
            |p| p.callsites[1].live_bytes = 4_000,
            "callsites[1].live_bytes: 4000 exceeds the callsite's bytes (3072)",
        ),
        (
            |p| p.callsites[0].peak_blocks = 121,
            "callsites[0].peak_blocks: 121 exceeds blocks + reallocs (120)",
        ),
        (
            |p| p.callsites[1].freed_blocks = 2,
            "callsites[1].freed_blocks: 2 freed and 2 live at the end, but only 3 blocks + reallocs",
        ),
        (
            |p| p.callsites[0].lifetime_min_ns = 3_000,
            "callsites[0].lifetime_min_ns: greater than lifetime_max_ns",
        ),
        (
            |p| p.callsites[2].lifetime_total_ns = 5,
            "callsites[2].lifetime_total_ns: lifetimes given, but no block was freed (freed_blocks is 0)",
        ),
    ];
    for (lie, want) in cases {
        let mut p = common::exact();
        lie(&mut p);
        assert_eq!(message(&p), format!("inconsistent profile: {want}"));
    }
}

#[test]
fn totals_that_do_not_add_up() {
    let cases: [Lie; 6] = [
        (
            |p| p.totals.bytes_allocated += 1,
            "totals.bytes_allocated: 13585 but the callsites add up to 13584",
        ),
        (
            |p| p.totals.deallocations = 0,
            "totals.deallocations: 0 but the callsites add up to 103",
        ),
        (
            |p| p.totals.bytes_deallocated -= 8,
            "totals.bytes_deallocated: bytes_allocated - bytes_deallocated = 6152, but live_bytes + untracked bytes = 6144",
        ),
        (
            |p| {
                p.totals.live_bytes = p.totals.peak_bytes + 1;
            },
            "totals.live_bytes: 7469 exceeds peak_bytes 7468",
        ),
        (
            |p| p.untracked.reallocations = 21,
            "untracked.reallocations: 21 exceeds totals.reallocations 20 (which include them)",
        ),
        (
            // Blocks appear from nowhere: freed and live exceed those allocated.
            |p| {
                p.callsites[0].freed_blocks = 110;
                p.totals.deallocations += 10;
                p.histograms.lifetime[0].blocks += 10;
            },
            "totals.deallocations: allocations - untracked blocks + untracked reallocations = 106, but deallocations + live_blocks = 116",
        ),
    ];
    for (lie, want) in cases {
        let mut p = common::exact();
        lie(&mut p);
        assert_eq!(message(&p), format!("inconsistent profile: {want}"));
    }
}

#[test]
fn histograms_with_impossible_buckets() {
    let cases: [Lie; 5] = [
        (
            |p| {
                p.histograms.size[0] = Bucket {
                    lo: 9,
                    hi: 3,
                    ..p.histograms.size[0]
                }
            },
            "histograms.size[0]: lo 9 is greater than hi 3",
        ),
        (
            |p| {
                p.histograms.size[0] = Bucket {
                    lo: 3,
                    hi: 9,
                    ..p.histograms.size[0]
                }
            },
            "histograms.size[0]: [3, 9] is not a bucket: expected a power-of-two range ([0, 0], [1, 1], [2, 3], [4, 7], …)",
        ),
        (
            |p| {
                p.histograms.align[0] = Bucket {
                    lo: 8,
                    hi: 16,
                    ..p.histograms.align[0]
                }
            },
            "histograms.align[0]: [8, 16] is not a bucket: expected a power of two with lo == hi",
        ),
        (
            |p| p.histograms.size[0].bytes += 1_000_000,
            "histograms.size[0].bytes: 1000016 bytes cannot be 2 blocks of 8 to 15 bytes each",
        ),
        (
            |p| p.histograms.lifetime[0].blocks += 1,
            "histograms.lifetime: 104 freed blocks, but totals.deallocations = 103",
        ),
    ];
    for (lie, want) in cases {
        let mut p = common::exact();
        lie(&mut p);
        assert_eq!(message(&p), format!("inconsistent profile: {want}"));
    }
}

#[test]
fn timeline_events_and_threads() {
    let cases: [Lie; 7] = [
        (
            |p| p.timeline[0].live_bytes = 2_001,
            "timeline[0].live_bytes: 2001 exceeds max_bytes 2000",
        ),
        (
            |p| p.timeline[1].max_bytes = 1 << 40,
            "timeline[1].max_bytes: 1099511627776 exceeds totals.peak_bytes 7468",
        ),
        (
            |p| p.timeline[2].live_bytes = 0,
            "timeline[2].live_bytes: the last point has 0 bytes in 3 blocks live, but the totals 6144 bytes in 3 blocks",
        ),
        (
            |p| p.events.items.swap(1, 3),
            "events.items[2].t_ns: 30 is earlier than the event before it (40)",
        ),
        (
            |p| p.events.dropped = 11,
            "events.dropped: 11 exceeds events.recorded 10",
        ),
        (
            |p| p.events.items[0].kind = EventKind::Realloc,
            "events.items[0].old_size: missing on a reallocation",
        ),
        (
            |p| p.threads.push(ThreadInfo { id: 1, name: None }),
            "threads[2].id: thread id 1 is listed twice",
        ),
    ];
    for (lie, want) in cases {
        let mut p = common::exact();
        lie(&mut p);
        assert_eq!(message(&p), format!("inconsistent profile: {want}"));
    }
    // More events kept than recorded.
    let mut p = common::exact();
    p.events.recorded = 6;
    assert_eq!(
        message(&p),
        "inconsistent profile: events.items: 5 events, more than recorded - dropped = 1"
    );
}

#[test]
fn sampled_specifics() {
    let mut p = common::sampled();
    p.meta.mode = Mode::Sampled { rate_bytes: 0 };
    assert_eq!(
        message(&p),
        "inconsistent profile: meta.mode.rate_bytes: 0: a sampled profile needs a sampling rate of at least 1 byte"
    );
    let mut p = common::sampled();
    p.untracked.deallocations = 1;
    assert_eq!(
        message(&p),
        "inconsistent profile: untracked.deallocations: 1, but a sampled profile counts no untracked events"
    );
    // Estimates need not add up: callsites and totals may differ.
    let mut p = common::sampled();
    p.totals.allocations += 1_000;
    p.totals.bytes_allocated += 1_000_000;
    common::assert_valid(&p);
    // But references and values are checked as for exact profiles.
    let mut p = common::sampled();
    p.callsites[0].stack = 77;
    assert!(message(&p).contains("callsites[0].stack: stack index 77 out of range"));
}

#[test]
fn each_error_is_the_documented_variant() {
    let mut p = common::exact();
    p.callsites[3].stack = 9;
    let err = parse_profile(&serde_json::to_vec(&p).unwrap()).unwrap_err();
    assert_eq!(
        err,
        LoadError::Inconsistent {
            field: "callsites[3].stack".into(),
            problem: "stack index 9 out of range (4 stacks)".into(),
        }
    );
    let mut v = serde_json::to_value(common::exact()).unwrap();
    v["callsites"][0]["blocks"] = json!(null);
    match parse_profile(&serde_json::to_vec(&v).unwrap()).unwrap_err() {
        LoadError::Malformed { field, .. } => {
            assert_eq!(field.as_deref(), Some("callsites[0].blocks"))
        }
        other => panic!("{other:?}"),
    }
}
