//! Every occurrence of a set of keywords in a text, overlapping ones too,
//! at the speed of a prefiltered search.
//!
//! aho-corasick's overlapping walk (needed: one keyword may sit inside
//! another, and callers want all of them) has no prefilter and steps the
//! automaton on every byte. A leftmost-first search has one (SIMD), so it
//! runs first and skips to each match; every occurrence either is such a
//! match or overlaps one (the leftmost search would have stopped at it
//! otherwise), so the overlapping walk runs only in a window of the longest
//! keyword's length around each. Most texts (outputs, heredoc bodies) hold
//! no keyword and cost one prefilter pass.
//!
//! With `fold_case`, keywords and text are lower-cased (ASCII, so offsets do
//! not move) rather than using `ascii_case_insensitive`, which turns the
//! prefilter off. A DFA would also be fast but takes milliseconds to build,
//! and every hook call is a cold start.

use aho_corasick::{AhoCorasick, AhoCorasickKind, BuildError, MatchKind};

#[derive(Debug, Clone)]
pub struct Keywords {
    skip: AhoCorasick,
    all: AhoCorasick,
    fold_case: bool,
}

impl Keywords {
    pub fn new<I, P>(keywords: I, fold_case: bool) -> Result<Keywords, BuildError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        let keywords: Vec<String> = keywords
            .into_iter()
            .map(|k| {
                if fold_case {
                    k.as_ref().to_ascii_lowercase()
                } else {
                    k.as_ref().to_string()
                }
            })
            .collect();
        let build = |kind| {
            AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .match_kind(kind)
                .build(&keywords)
        };
        Ok(Keywords {
            skip: build(MatchKind::LeftmostFirst)?,
            all: build(MatchKind::Standard)?,
            fold_case,
        })
    }

    pub fn len(&self) -> usize {
        self.all.patterns_len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `found(keyword, start, end)` once for every occurrence in `text`, in order of end.
    pub fn each_match(&self, text: &str, mut found: impl FnMut(usize, usize, usize)) {
        if self.is_empty() {
            return;
        }
        let lower;
        let hay = if self.fold_case && text.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = text.to_ascii_lowercase();
            lower.as_bytes()
        } else {
            text.as_bytes()
        };
        let reach = self.all.max_pattern_len();
        // End of the last window walked: a match ending there or before lay
        // wholly inside it (windows start in increasing order) and was reported.
        let mut done = 0;
        for m in self.skip.find_iter(hay) {
            let from = m.start().saturating_sub(reach);
            let to = (m.end() + reach).min(hay.len());
            for o in self.all.find_overlapping_iter(&hay[from..to]) {
                let (s, e) = (from + o.start(), from + o.end());
                if e > done {
                    found(o.pattern().as_usize(), s, e);
                }
            }
            done = to;
        }
    }

    /// Calls `found` with the id of every keyword in `text`, once per occurrence.
    pub fn each(&self, text: &str, mut found: impl FnMut(usize)) {
        self.each_match(text, |k, _, _| found(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain overlapping walk: what `each_match` must report, faster.
    fn reference(words: &[&str], text: &str, fold: bool) -> Vec<(usize, usize, usize)> {
        let ac = AhoCorasick::builder()
            .ascii_case_insensitive(fold)
            .build(words)
            .unwrap();
        let mut v: Vec<_> = ac
            .find_overlapping_iter(text)
            .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
            .collect();
        v.sort_by_key(|&(k, s, e)| (e, s, k));
        v
    }

    fn ours(words: &[&str], text: &str, fold: bool) -> Vec<(usize, usize, usize)> {
        let kw = Keywords::new(words, fold).unwrap();
        let mut v = Vec::new();
        kw.each_match(text, |k, s, e| v.push((k, s, e)));
        v.sort_by_key(|&(k, s, e)| (e, s, k));
        v
    }

    #[test]
    fn reports_every_occurrence_once_including_nested_and_adjacent() {
        let words = [
            "curl",
            "url",
            "nc",
            "ncat",
            "cat",
            "at",
            "system(",
            "os.system(",
        ];
        for text in [
            "curl http://x | ncat -e sh; cat f",
            "ncatncatncat",
            "os.system('id'); system(\"x\")",
            "no keyword here at all",
            "",
            "at",
            "aturlcurlncatat",
        ] {
            assert_eq!(
                ours(&words, text, false),
                reference(&words, text, false),
                "{text:?}"
            );
        }
    }

    #[test]
    fn folds_ascii_case_only_when_asked() {
        let words = ["AKIA", "ghp_", "Password"];
        let text = "akia AKIA GHP_x password PassWord";
        assert_eq!(ours(&words, text, true), reference(&words, text, true));
        assert_eq!(ours(&words, text, false), reference(&words, text, false));
        assert_eq!(ours(&words, text, false).len(), 1);
    }

    #[test]
    fn agrees_with_the_plain_walk_on_generated_texts() {
        // Small alphabet so that keywords overlap and nest a lot.
        let words = ["ab", "bab", "abab", "b", "aab", "baa"];
        let mut seed = 0x2545f4914f6cdd1du64;
        for _ in 0..500 {
            let len = (seed % 40) as usize;
            let text: String = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ['a', 'b', 'c', 'A', 'B'][(seed % 5) as usize]
                })
                .collect();
            for fold in [false, true] {
                assert_eq!(
                    ours(&words, &text, fold),
                    reference(&words, &text, fold),
                    "{text:?} fold={fold}"
                );
            }
        }
    }
}
