//! Which figure of a callsite a report ranks, weighs or compares by.

use serde::Serialize;

use crate::format::Callsite;

/// A per-callsite figure: what `top --by`, `flamegraph --metric` and `diff --by` choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Bytes handed out over the whole session ([`Callsite::bytes`]).
    #[default]
    Bytes,
    /// Allocations made ([`Callsite::blocks`]).
    Blocks,
    /// Bytes still live at the end ([`Callsite::live_bytes`]).
    Live,
    /// Bytes live at the moment of the global peak ([`Callsite::peak_bytes`]).
    Peak,
}

impl Metric {
    /// Every metric, in the order help text lists them.
    pub const ALL: [Self; 4] = [Self::Bytes, Self::Blocks, Self::Live, Self::Peak];

    /// The figure of `callsite` this metric reads.
    ///
    /// ```
    /// use alloc_core::format::Callsite;
    /// use alloc_core::metric::Metric;
    /// let c = Callsite { blocks: 2, bytes: 64, live_bytes: 32, ..Callsite::default() };
    /// assert_eq!(Metric::Bytes.of(&c), 64);
    /// assert_eq!(Metric::Blocks.of(&c), 2);
    /// assert_eq!(Metric::Live.of(&c), 32);
    /// assert_eq!(Metric::Peak.of(&c), 0);
    /// ```
    #[must_use]
    pub const fn of(self, callsite: &Callsite) -> u64 {
        match self {
            Self::Bytes => callsite.bytes,
            Self::Blocks => callsite.blocks,
            Self::Live => callsite.live_bytes,
            Self::Peak => callsite.peak_bytes,
        }
    }

    /// The name used on the command line and in JSON: `bytes`, `blocks`, `live`, `peak`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Blocks => "blocks",
            Self::Live => "live",
            Self::Peak => "peak",
        }
    }

    /// What the figure means, for titles: `bytes allocated`, `blocks allocated`,
    /// `bytes live at end`, `bytes live at peak`.
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Bytes => "bytes allocated",
            Self::Blocks => "blocks allocated",
            Self::Live => "bytes live at end",
            Self::Peak => "bytes live at peak",
        }
    }

    /// True when the figure is a number of bytes (every metric but [`Metric::Blocks`]).
    #[must_use]
    pub const fn is_bytes(self) -> bool {
        !matches!(self, Self::Blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_only_blocks_counts_blocks() {
        let names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["bytes", "blocks", "live", "peak"]);
        assert!(
            Metric::ALL
                .iter()
                .filter(|m| !m.is_bytes())
                .eq([&Metric::Blocks])
        );
        let c = Callsite {
            peak_bytes: 7,
            ..Callsite::default()
        };
        assert_eq!(Metric::Peak.of(&c), 7);
        assert_eq!(Metric::Peak.describe(), "bytes live at peak");
    }
}
