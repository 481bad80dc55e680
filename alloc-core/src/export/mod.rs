//! Conversions of a profile into other tools' formats, each a pure function from
//! a [`Profile`] to bytes or a serde value:
//!
//! * [`dhat`]: Valgrind DHAT's JSON (`dhatFileVersion` 2), for its viewer
//!   `dh_view.html`;
//! * [`pprof`]: the gzipped `profile.proto` that `go tool pprof` and other
//!   pprof readers open;
//! * [`speedscope`]: speedscope's JSON file format, one profile per metric;
//! * collapsed stacks are [`crate::folded`].
//!
//! Every export shows the same stacks: the profile's (already trimmed of the
//! profiler and the runtime, see [`crate::trim`]) with allocator plumbing
//! ([`crate::names::is_plumbing`]) also cut from the innermost end, as
//! flamegraphs show them. `docs/exports.md` says where each of our figures goes
//! and what each format cannot hold.

pub mod dhat;
mod gzip;
pub mod pprof;
mod protobuf;
pub mod speedscope;

use crate::format::{Callsite, Frame, Profile};
use crate::names::{FrameCache, printable, strip_hash};

/// Each callsite of `profile` with its stack as exports show it: frame indices
/// innermost first, allocator plumbing trimmed from the innermost end. A
/// callsite whose stack index is out of range is left out (a validated profile
/// has none).
fn trimmed_stacks(profile: &Profile) -> Vec<(&Callsite, &[u32])> {
    let mut names = FrameCache::new(profile);
    profile
        .callsites
        .iter()
        .filter_map(|c| {
            let stack = &profile.stacks.get(c.stack as usize)?.frames;
            let trim = names.plumbing_len(stack);
            Some((c, &stack[trim..]))
        })
        .collect()
}

/// A frame's function name as exports show it: hash suffix removed, control
/// characters replaced by `?`.
fn function_name(frame: &Frame) -> String {
    printable(strip_hash(&frame.function)).into_owned()
}

/// The stand-in for a frame index that is out of range (never in a validated profile).
fn unknown_frame() -> Frame {
    Frame {
        function: "[unknown frame]".to_owned(),
        file: None,
        line: None,
        column: None,
        inlined: false,
    }
}

/// The frame at `index`, or [`unknown_frame`].
fn frame_at(profile: &Profile, index: u32) -> std::borrow::Cow<'_, Frame> {
    profile.frames.get(index as usize).map_or_else(
        || std::borrow::Cow::Owned(unknown_frame()),
        std::borrow::Cow::Borrowed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ProfileBuilder;

    #[test]
    fn stacks_lose_plumbing_at_the_innermost_end_only() {
        let mut b = ProfileBuilder::new("demo");
        b.site(
            &[
                ("alloc::raw_vec::finish_grow", "", 0),
                ("alloc::vec::Vec<T,A>::push", "", 0),
                ("demo::main", "src/main.rs", 3),
            ],
            |c| {
                c.blocks = 1;
                c.bytes = 8;
                c.freed_blocks = 1;
            },
        );
        let p = b.build();
        let stacks = trimmed_stacks(&p);
        let names: Vec<_> = stacks[0]
            .1
            .iter()
            .map(|&f| function_name(&frame_at(&p, f)))
            .collect();
        assert_eq!(names, ["alloc::vec::Vec<T,A>::push", "demo::main"]);
        assert_eq!(function_name(&frame_at(&p, 99)), "[unknown frame]");
    }
}
