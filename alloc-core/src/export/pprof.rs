//! pprof's `profile.proto` (github.com/google/pprof/proto/profile.proto),
//! gzipped, as `go tool pprof` and other pprof readers open it.
//!
//! Each callsite is one sample with four values, the sample types of a Go heap
//! profile: `alloc_objects`/`count` (blocks handed out: allocations plus
//! reallocations, so that `alloc_space / alloc_objects` is the mean size),
//! `alloc_space`/`bytes`, `inuse_objects`/`count` and `inuse_space`/`bytes`
//! (live at the end). The default sample type is `alloc_space`. Each frame is
//! a location with one line (function, file, line) in a single mapping, the
//! program; functions have a name but no `system_name`, so pprof shows Rust
//! names whole; locations have no addresses, as the profile keeps none. The period
//! type is `space`/`bytes`; a sampled profile's period is its mean bytes
//! between samples, and its values are already the scaled estimates (pprof
//! does not scale them again). Figures above `i64::MAX` saturate.

use std::collections::HashMap;

use super::protobuf::Message;
use super::{frame_at, function_name, gzip, trimmed_stacks};
use crate::format::{Mode, Profile};

/// The sample types, in the order of each sample's values.
pub const SAMPLE_TYPES: [(&str, &str); 4] = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
];

/// The gzipped pprof profile of `profile`.
///
/// # Examples
/// ```
/// use alloc_core::export::pprof::pprof;
/// use alloc_core::testing::ProfileBuilder;
///
/// let mut b = ProfileBuilder::new("/bin/demo");
/// b.site(&[("demo::main", "src/main.rs", 9)], |c| { c.blocks = 1; c.bytes = 64; c.live_blocks = 1;
///     c.live_bytes = 64; c.peak_blocks = 1; c.peak_bytes = 64; });
/// let gz = pprof(&b.build());
/// assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
/// ```
#[must_use]
pub fn pprof(profile: &Profile) -> Vec<u8> {
    gzip::gzip(&profile_proto(profile))
}

/// The `Profile` message of `profile`, not gzipped.
#[must_use]
pub fn profile_proto(profile: &Profile) -> Vec<u8> {
    let mut strings = Strings::default();
    let mut out = Message::new();
    for (kind, unit) in SAMPLE_TYPES {
        out.message(1, &value_type(&mut strings, kind, unit));
    }

    // Locations (one per profile frame used) and functions (one per name and file).
    let mut location_ids: HashMap<u32, u64> = HashMap::new();
    let mut locations: Vec<Message> = Vec::new();
    let mut function_ids: HashMap<(String, Option<String>), u64> = HashMap::new();
    let mut functions: Vec<Message> = Vec::new();
    let mut samples: Vec<Message> = Vec::new();
    for (c, stack) in trimmed_stacks(profile) {
        let ids: Vec<u64> = stack
            .iter()
            .map(|&f| {
                *location_ids.entry(f).or_insert_with(|| {
                    let frame = frame_at(profile, f);
                    let key = (function_name(&frame), frame.file.clone());
                    let function_id =
                        *function_ids.entry(key).or_insert_with_key(|(name, file)| {
                            let id = functions.len() as u64 + 1;
                            let mut m = Message::new();
                            let name = strings.index(name);
                            // No `system_name`: pprof would take a name equal to it
                            // for an undemangled C++ one and strip its `<…>`, leaving
                            // `<A as B>::f` as `::f`.
                            m.uint64(1, id).int64(2, name);
                            m.int64(4, file.as_deref().map_or(0, |f| strings.index(f)));
                            functions.push(m);
                            id
                        });
                    let id = locations.len() as u64 + 1;
                    let mut line = Message::new();
                    line.uint64(1, function_id)
                        .int64(2, frame.line.map_or(0, i64::from));
                    let mut m = Message::new();
                    m.uint64(1, id).uint64(2, MAPPING_ID).message(4, &line);
                    locations.push(m);
                    id
                })
            })
            .collect();
        let values = [
            c.blocks.saturating_add(c.reallocs),
            c.bytes,
            c.live_blocks,
            c.live_bytes,
        ]
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        let mut sample = Message::new();
        sample.packed_uint64(1, &ids).packed_int64(2, &values);
        samples.push(sample);
    }
    for s in &samples {
        out.message(2, s);
    }

    let mut mapping = Message::new();
    mapping
        .uint64(1, MAPPING_ID)
        .int64(5, strings.index(&profile.meta.program))
        .bool(7, true)
        .bool(8, true)
        .bool(9, true);
    out.message(3, &mapping);
    for l in &locations {
        out.message(4, l);
    }
    for f in &functions {
        out.message(5, f);
    }

    let started_ns = i128::from(profile.meta.started_unix_ms) * 1_000_000;
    out.int64(9, i64::try_from(started_ns).unwrap_or(i64::MAX));
    out.int64(
        10,
        i64::try_from(profile.meta.duration_ns).unwrap_or(i64::MAX),
    );
    out.message(11, &value_type(&mut strings, "space", "bytes"));
    let mut comments = vec![format!(
        "alloc-profiler profile of {}, pid {}",
        profile.meta.program, profile.meta.pid
    )];
    if let Mode::Sampled { rate_bytes } = profile.meta.mode {
        out.int64(12, i64::try_from(rate_bytes).unwrap_or(i64::MAX));
        comments.push(format!(
            "sampled every {rate_bytes} bytes on average: values are estimates, already scaled"
        ));
    }
    comments.push("alloc_objects counts allocations plus reallocations".to_owned());
    for c in &comments {
        out.int64(13, strings.index(c));
    }
    out.int64(14, strings.index("alloc_space"));

    // The string table last, once everything is interned.
    for s in &strings.list {
        out.bytes(6, s.as_bytes());
    }
    out.into_bytes()
}

/// The id of the one mapping, the program.
const MAPPING_ID: u64 = 1;

fn value_type(strings: &mut Strings, kind: &str, unit: &str) -> Message {
    let mut m = Message::new();
    m.int64(1, strings.index(kind))
        .int64(2, strings.index(unit));
    m
}

/// The string table: `""` at index 0, each string once.
struct Strings {
    list: Vec<String>,
    index: HashMap<String, i64>,
}

impl Default for Strings {
    fn default() -> Self {
        Self {
            list: vec![String::new()],
            index: HashMap::from([(String::new(), 0)]),
        }
    }
}

impl Strings {
    fn index(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = i64::try_from(self.list.len()).unwrap_or(i64::MAX);
        self.list.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    /// A field of a decoded message: its number and its varint or bytes.
    #[derive(Debug, Clone, PartialEq)]
    enum Value {
        Varint(u64),
        Bytes(Vec<u8>),
    }

    fn varint(data: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = data[*at];
            *at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// Decodes one message's fields, in order (varint and length-delimited only).
    fn fields(data: &[u8]) -> Vec<(u64, Value)> {
        let (mut at, mut out) = (0, Vec::new());
        while at < data.len() {
            let key = varint(data, &mut at);
            let value = match key & 7 {
                0 => Value::Varint(varint(data, &mut at)),
                2 => {
                    let len = usize::try_from(varint(data, &mut at)).unwrap();
                    at += len;
                    Value::Bytes(data[at - len..at].to_vec())
                }
                t => panic!("unexpected wire type {t}"),
            };
            out.push((key >> 3, value));
        }
        out
    }

    fn all(msg: &[(u64, Value)], field: u64) -> Vec<Value> {
        msg.iter()
            .filter(|(f, _)| *f == field)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn bytes_of(v: &Value) -> &[u8] {
        match v {
            Value::Bytes(b) => b,
            Value::Varint(_) => panic!("not bytes"),
        }
    }

    fn packed(v: &Value) -> Vec<u64> {
        let b = bytes_of(v);
        let (mut at, mut out) = (0, Vec::new());
        while at < b.len() {
            out.push(varint(b, &mut at));
        }
        out
    }

    fn demo() -> Profile {
        let mut b = ProfileBuilder::new("/bin/demo");
        b.site(
            &[
                ("alloc::raw_vec::finish_grow", "/rustc/x/raw_vec.rs", 1),
                ("demo::fill", "src/main.rs", 10),
                ("demo::main", "src/main.rs", 20),
            ],
            |c| {
                c.blocks = 4;
                c.reallocs = 2;
                c.bytes = 400;
                c.freed_blocks = 3;
                c.live_blocks = 1;
                c.live_bytes = 100;
                c.peak_blocks = 1;
                c.peak_bytes = 100;
            },
        );
        b.site(&[("demo::main", "src/main.rs", 20)], |c| {
            c.blocks = 1;
            c.bytes = 8;
            c.freed_blocks = 1;
        });
        b.build()
    }

    #[test]
    fn the_string_table_starts_empty_and_names_the_sample_types() {
        let msg = fields(&profile_proto(&demo()));
        let strings: Vec<String> = all(&msg, 6)
            .iter()
            .map(|v| String::from_utf8(bytes_of(v).to_vec()).unwrap())
            .collect();
        assert_eq!(strings[0], "");
        let types: Vec<(String, String)> = all(&msg, 1)
            .iter()
            .map(|v| {
                let t = fields(bytes_of(v));
                let s = |f| match all(&t, f)[0] {
                    Value::Varint(i) => strings[usize::try_from(i).unwrap()].clone(),
                    Value::Bytes(_) => panic!(),
                };
                (s(1), s(2))
            })
            .collect();
        let want: Vec<_> = SAMPLE_TYPES
            .iter()
            .map(|&(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        assert_eq!(types, want);
        let Value::Varint(default) = all(&msg, 14)[0] else {
            panic!()
        };
        assert_eq!(strings[usize::try_from(default).unwrap()], "alloc_space");
        assert!(strings.contains(&"demo::fill".to_owned()));
        assert!(strings.contains(&"src/main.rs".to_owned()));
        assert!(
            !strings.iter().any(|s| s.contains("finish_grow")),
            "plumbing is trimmed"
        );
    }

    #[test]
    fn samples_carry_four_values_and_leaf_first_locations() {
        let msg = fields(&profile_proto(&demo()));
        let samples: Vec<_> = all(&msg, 2).iter().map(|v| fields(bytes_of(v))).collect();
        assert_eq!(samples.len(), 2);
        assert_eq!(packed(&all(&samples[0], 2)[0]), [6, 400, 1, 100]);
        assert_eq!(packed(&all(&samples[1], 2)[0]), [1, 8, 0, 0]);
        // demo::fill then demo::main; the second sample reuses main's location.
        assert_eq!(packed(&all(&samples[0], 1)[0]), [1, 2]);
        assert_eq!(packed(&all(&samples[1], 1)[0]), [2]);
        assert_eq!(all(&msg, 4).len(), 2, "two locations");
        assert_eq!(all(&msg, 5).len(), 2, "two functions");
        assert_eq!(all(&msg, 3).len(), 1, "one mapping");
        // Exact profiles have no period, but a period type.
        assert!(all(&msg, 12).is_empty());
        assert_eq!(all(&msg, 11).len(), 1);
    }

    #[test]
    fn sampled_profiles_carry_their_period() {
        let mut p = demo();
        p.meta.mode = Mode::Sampled { rate_bytes: 4096 };
        let msg = fields(&profile_proto(&p));
        assert_eq!(all(&msg, 12), [Value::Varint(4096)]);
    }

    #[test]
    fn the_file_is_the_message_gzipped() {
        let p = demo();
        let gz = pprof(&p);
        let raw = profile_proto(&p);
        assert_eq!(&gz[..3], &[0x1f, 0x8b, 8]);
        let trailer = &gz[gz.len() - 8..];
        assert_eq!(trailer[..4], gzip::crc32(&raw).to_le_bytes());
    }
}
