//! `alloc-report leaks` as text: each leaking callsite with its full stack, in
//! the layout of a Rust backtrace.

use std::collections::HashMap;
use std::io::{self, Write};

use alloc_core::Profile;
use alloc_core::leaks::Leaks;
use alloc_core::names::{location, shorten, shorten_path};
use alloc_core::number::{bytes, count};

use super::{TextOptions, blocks_word, write_sampling_note};

fn callsites_word(n: usize) -> String {
    if n == 1 {
        "1 callsite".to_owned()
    } else {
        format!("{} callsites", count(n as u64))
    }
}

/// Writes the leak groups of `leaks`.
///
/// # Errors
/// Any error of `w`.
pub fn render(
    w: &mut dyn Write,
    profile: &Profile,
    leaks: &Leaks,
    min_bytes: u64,
    o: &TextOptions,
) -> io::Result<()> {
    let st = o.style();
    write_sampling_note(w, profile, o)?;
    let threshold = if min_bytes > 0 {
        format!(" of at least {}", bytes(min_bytes))
    } else {
        String::new()
    };
    if leaks.passing == 0 {
        writeln!(
            w,
            "{}",
            st.green(&format!(
                "No leaks{threshold}: nothing allocated while profiling was live at the end."
            ))
        )?;
    } else {
        let shown = if leaks.groups.len() < leaks.passing {
            format!(" (the largest {} shown)", leaks.groups.len())
        } else {
            String::new()
        };
        writeln!(
            w,
            "{}{shown}",
            st.bold(&format!(
                "Leaks{threshold}: {}, {}, {} live at the end",
                callsites_word(leaks.passing),
                blocks_word(leaks.passing_blocks),
                bytes(leaks.passing_bytes)
            ))
        )?;
    }
    // Stacks share frames: shorten each frame once per width, not once per
    // stack holding it (which costs every stack written out in full).
    let mut labels: HashMap<(u32, usize), (String, Option<String>)> = HashMap::new();
    for (i, g) in leaks.groups.iter().enumerate() {
        writeln!(w)?;
        writeln!(
            w,
            "{}",
            st.red(&format!(
                "#{}  {} in {}",
                i + 1,
                bytes(g.bytes),
                blocks_word(g.blocks)
            ))
        )?;
        let frames = profile
            .stacks
            .get(g.stack as usize)
            .map_or(&[][..], |s| &s.frames[..]);
        let number_width = frames.len().saturating_sub(1).to_string().len().max(2);
        let name_room = o.width.saturating_sub(number_width + 4);
        let at_room = o.width.saturating_sub(number_width + 10);
        for (pos, &f) in frames.iter().enumerate() {
            let Some(frame) = profile.frames.get(f as usize) else {
                continue;
            };
            let marker = if pos == g.user_frame { ">" } else { " " };
            let (name, loc) = labels.entry((f, name_room)).or_insert_with(|| {
                (
                    shorten(&frame.function, name_room),
                    location(frame).map(|loc| shorten_path(&loc, at_room)),
                )
            });
            if pos == g.user_frame {
                writeln!(w, "{marker}{pos:>number_width$}: {}", st.bold(name))?;
            } else {
                writeln!(w, "{marker}{pos:>number_width$}: {name}")?;
            }
            if let Some(loc) = loc {
                writeln!(
                    w,
                    "{:width$}at {}",
                    "",
                    st.dim(loc),
                    width = number_width + 8
                )?;
            }
        }
    }
    if leaks.below > 0 {
        writeln!(w)?;
        writeln!(
            w,
            "{}",
            st.dim(&format!(
                "{} more {} less than {} ({}, {}).",
                count(leaks.below as u64),
                if leaks.below == 1 {
                    "callsite leaks"
                } else {
                    "callsites leak"
                },
                bytes(min_bytes),
                blocks_word(leaks.below_blocks),
                bytes(leaks.below_bytes)
            ))
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc_core::leaks::{LeakOptions, leaks};

    use super::*;
    use crate::render::test_support::{profile, render as run};

    #[test]
    fn each_leak_shows_its_stack_with_the_user_frame_marked() {
        let p = profile();
        let l = leaks(&p, &LeakOptions::default());
        let text = run(80, |w| render(w, &p, &l, 0, &TextOptions::default()));
        assert!(text.starts_with("Leaks: 2 callsites, 3 blocks, 68.0 KiB live at the end\n"));
        assert!(text.contains("#1  64.0 KiB in 2 blocks\n"));
        assert!(text.contains(
            "> 1: <demo::cache::Cache<…> as core::clone::Clone>::clone\n          at /home/dev/projects/demo/src/cache.rs:77\n"
        ), "{text}");
        assert!(text.contains(
            "#2  4.0 KiB in 1 block\n> 0: demo::leak_on_purpose\n          at src/main.rs:20\n"
        ));
    }

    #[test]
    fn thresholds_and_clean_profiles() {
        let p = profile();
        let l = leaks(&p, &LeakOptions::new(8192, None));
        let text = run(80, |w| render(w, &p, &l, 8192, &TextOptions::default()));
        assert!(text.starts_with("Leaks of at least 8.0 KiB: 1 callsite, 2 blocks, 64.0 KiB"));
        assert!(
            text.ends_with("1 more callsite leaks less than 8.0 KiB (1 block, 4.0 KiB).\n"),
            "{text}"
        );
        let clean = alloc_core::testing::ProfileBuilder::new("x").build();
        let l = leaks(&clean, &LeakOptions::default());
        let text = run(80, |w| render(w, &clean, &l, 0, &TextOptions::default()));
        assert_eq!(
            text,
            "No leaks: nothing allocated while profiling was live at the end.\n"
        );
    }
}
