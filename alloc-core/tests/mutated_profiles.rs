//! Property: structured mutations of valid profiles (entries dropped,
//! duplicated, shuffled; numbers perturbed, made huge, negative or fractional;
//! indices out of range; keys removed; values of the wrong type; hostile
//! names) either parse, and then every analysis runs without panicking, or are
//! rejected with one line that names a field.
//!
//! A fixed seed keeps CI reproducible; `MUTATED_PROFILES_SEED=N` and
//! `MUTATED_PROFILES_CASES=N` explore further. A failure prints the case's
//! seed and the profile that broke.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use alloc_core::Profile;
use alloc_core::load::{LoadError, parse_profile};
use serde_json::{Value, json};

/// xorshift64*: small, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// Numbers that break naive code: zero, one, limits, off-by-ones, powers of two.
fn interesting(rng: &mut Rng, old: Option<u64>) -> Value {
    let old = old.unwrap_or(0);
    match rng.below(14) {
        0 => json!(0),
        1 => json!(1),
        2 => json!(u64::MAX),
        3 => json!(u64::MAX - 1),
        4 => json!(u32::MAX),
        5 => json!(u64::from(u32::MAX) + 1),
        6 => json!(i64::MAX as u64 + 1),
        7 => json!(old.wrapping_add(1)),
        8 => json!(old.saturating_sub(1)),
        9 => json!(old.saturating_mul(2)),
        10 => json!(1u64 << rng.below(64)),
        11 => json!(-1),
        12 => json!(rng.next() % 64),
        _ => json!(rng.next()),
    }
}

/// Names that have broken name handling: unbalanced or deep brackets,
/// multi-byte characters next to separators, control characters, long runs.
fn hostile_name(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3000);
    match rng.below(9) {
        0 => "<".repeat(n) + "a::b" + &" as c::d>::e".repeat(n),
        1 => "a<".repeat(n),
        2 => "é::".repeat(n) + "<é as ü::x>::f",
        3 => "::".repeat(n),
        4 => "a/".repeat(n),
        5 => "line\nbreak;semi\u{1b}[31m\t".to_owned(),
        6 => "x".repeat(n * 10),
        7 => "<[u8; 4] as core::ops::Index<->>>::index -> ->".to_owned(),
        _ => String::new(),
    }
}

/// Every node of `v`, as paths of indices and keys.
fn paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(Step::Index(i));
                paths(x, at, out);
                at.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                at.push(Step::Key(k.clone()));
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Index(usize),
    Key(String),
}

fn node<'v>(v: &'v mut Value, path: &[Step]) -> &'v mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Index(i) => &mut v[*i],
        Step::Key(k) => &mut v[k.as_str()],
    })
}

/// Applies one random structured mutation to `v`; returns what it did.
fn mutate(rng: &mut Rng, v: &mut Value) -> String {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let path = all.swap_remove(rng.below(all.len()));
    let at = format!("{path:?}");
    let target = node(v, &path);
    match target {
        Value::Number(n) => {
            let old = n.as_u64();
            *target = match rng.below(10) {
                0 => json!(1.5),
                1 => json!(-7),
                2 => json!("12"),
                3 => Value::Null,
                _ => interesting(rng, old),
            };
            format!("number at {at} -> {target}")
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.below(a.len());
            match rng.below(6) {
                0 => {
                    a.remove(i);
                    format!("dropped {at}[{i}]")
                }
                1 => {
                    let x = a[i].clone();
                    a.insert(rng.below(a.len() + 1), x);
                    format!("duplicated {at}[{i}]")
                }
                2 => {
                    for k in (1..a.len()).rev() {
                        a.swap(k, rng.below(k + 1));
                    }
                    format!("shuffled {at}")
                }
                3 => {
                    let j = rng.below(a.len());
                    a.swap(i, j);
                    format!("swapped {at}[{i}] and [{j}]")
                }
                4 => {
                    // Repeat an entry many times: long lists.
                    let x = a[i].clone();
                    let n = rng.below(2000);
                    a.extend(std::iter::repeat_n(x, n));
                    format!("repeated {at}[{i}] {n} times")
                }
                _ => {
                    a.clear();
                    format!("emptied {at}")
                }
            }
        }
        Value::Object(o) if !o.is_empty() => {
            let k = o
                .keys()
                .nth(rng.below(o.len()))
                .cloned()
                .unwrap_or_default();
            match rng.below(3) {
                0 => {
                    o.remove(&k);
                    format!("removed {at}.{k}")
                }
                1 => {
                    o.insert(k.clone(), json!([1, 2, 3]));
                    format!("{at}.{k} -> an array")
                }
                _ => {
                    o.insert("unknown_key".into(), json!({"x": 1}));
                    format!("added an unknown key to {at}")
                }
            }
        }
        Value::String(s) => {
            *s = hostile_name(rng);
            format!("string at {at} -> {} chars", s.chars().count())
        }
        other => {
            *other = interesting(rng, None);
            format!("{at} -> a number")
        }
    }
}

/// Index-like fields set out of range or to limits: the lies most likely to
/// panic a reader.
fn mutate_reference(rng: &mut Rng, v: &mut Value) -> String {
    let n_stacks = v["stacks"].as_array().map_or(0, Vec::len);
    let n_frames = v["frames"].as_array().map_or(0, Vec::len);
    let n_callsites = v["callsites"].as_array().map_or(0, Vec::len);
    let pick = |rng: &mut Rng, n: usize| match rng.below(3) {
        0 => json!(n),
        1 => json!(u32::MAX),
        _ => json!(rng.below(n + 3)),
    };
    match rng.below(3) {
        0 if n_callsites > 0 => {
            let i = rng.below(n_callsites);
            v["callsites"][i]["stack"] = pick(rng, n_stacks);
            format!("callsites[{i}].stack -> {}", v["callsites"][i]["stack"])
        }
        1 if n_stacks > 0 => {
            let i = rng.below(n_stacks);
            let x = pick(rng, n_frames);
            match v["stacks"][i]["frames"].as_array_mut() {
                Some(frames) => frames.push(x.clone()),
                None => return "nothing".into(),
            }
            format!("stacks[{i}].frames += {x}")
        }
        _ => {
            let Some(items) = v["events"]["items"]
                .as_array_mut()
                .filter(|i| !i.is_empty())
            else {
                return "nothing".into();
            };
            let i = rng.below(items.len());
            items[i]["stack"] = pick(rng, n_stacks);
            format!("events.items[{i}].stack -> {}", items[i]["stack"])
        }
    }
}

/// The error says which field: a path for inconsistencies and wrong types,
/// the marker or version for foreign files.
fn names_a_field(e: &LoadError) -> bool {
    match e {
        LoadError::Inconsistent { field, problem } => !field.is_empty() && !problem.is_empty(),
        LoadError::Malformed { field: Some(f), .. } => !f.is_empty(),
        // At the top level serde names the missing field in its words.
        LoadError::Malformed {
            field: None,
            detail,
        } => detail.contains("field `"),
        LoadError::NotAProfile | LoadError::UnsupportedVersion { .. } => true,
        _ => false,
    }
}

fn check(case: u64, base: &Profile, bytes: &[u8], log: &[String]) {
    let outcome = catch_unwind(AssertUnwindSafe(|| match parse_profile(bytes) {
        Ok(p) => {
            common::every_analysis(&p, base);
            None
        }
        Err(e) => Some(e),
    }));
    let show = || {
        let text = String::from_utf8_lossy(bytes);
        let cut: String = text.chars().take(2000).collect();
        format!("case {case} ({log:?}):\n{cut}")
    };
    match outcome {
        Err(_) => panic!("a panic on {}", show()),
        Ok(Some(e)) => {
            let line = e.to_string();
            assert!(
                !line.contains('\n'),
                "a message of more than one line: {line:?} on {}",
                show()
            );
            assert!(names_a_field(&e), "{line:?} names no field, on {}", show());
        }
        Ok(None) => {}
    }
}

#[test]
fn mutated_profiles_parse_or_name_a_field_and_never_panic() {
    let seed: u64 = std::env::var("MUTATED_PROFILES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_a110c);
    let cases: u64 = std::env::var("MUTATED_PROFILES_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let bases = [common::exact(), common::sampled()];
    for p in &bases {
        common::assert_valid(p);
    }
    let values: Vec<Value> = bases
        .iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    let (mut accepted, mut rejected) = (0, 0);
    for case in 0..cases {
        let mut rng = Rng(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let which = rng.below(bases.len());
        let mut v = values[which].clone();
        let mut log = Vec::new();
        for _ in 0..1 + rng.below(3) {
            log.push(if rng.chance(4) {
                mutate_reference(&mut rng, &mut v)
            } else {
                mutate(&mut rng, &mut v)
            });
        }
        let bytes = serde_json::to_vec(&v).unwrap();
        check(case, &bases[which], &bytes, &log);
        if parse_profile(&bytes).is_ok() {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    // Both outcomes must be exercised, or the mutations are too weak or too strong.
    assert!(
        accepted > cases / 50,
        "only {accepted} of {cases} mutated profiles parsed"
    );
    assert!(
        rejected > cases / 4,
        "only {rejected} of {cases} mutated profiles were rejected"
    );
}
