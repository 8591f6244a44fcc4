//! Which stack-trace rules a frame could match, found without evaluating
//! them: an index built once per rule set (on first use).
//!
//! A rule's own matchers must all hold for a frame to match, so any one of
//! them that is not negated gives a necessary condition. The index keeps,
//! per rule, the families its `family` matchers allow and, from one of its
//! `stack.function`, `stack.module`, `stack.abs_path` or `stack.package`
//! globs, what the value must equal, start with, end with or contain
//! ([`GlobKey`]). Those depend only on the frame as the client sent it (the
//! rules change in-app and category, never these), so they are looked up
//! once per frame, before any rule runs: a hash lookup for the exact values,
//! a plain comparison for the others. Rules without such a key (`category:`,
//! `app:`, `stack.function:*`) are candidates for every frame of their
//! families. [`StacktraceRules::apply_in`](super::StacktraceRules::apply_in)
//! then evaluates, in rule order, only the candidate rules on their
//! candidate frames, in full: the index only ever skips a rule on a frame
//! where it cannot match, so the result is that of evaluating every rule on
//! every frame.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::glob::{GlobKey, fold_char};
use super::matcher::{Family, FrameView, MatcherField, capped};
use super::stacktrace::StacktraceRule;

/// The families a frame can be of, in index order.
const FAMILIES: [Family; 3] = [Family::Native, Family::JavaScript, Family::Other];

fn family_slot(family: Family) -> usize {
    match family {
        Family::Native => 0,
        Family::JavaScript => 1,
        // `All` is a matcher value, never a frame's family.
        Family::Other | Family::All => 2,
    }
}

/// A small fast hash (FxHash's) for the short keys of the index. The tables
/// hold only keys from rules (a few hundred at most), so a value cannot make
/// them degrade; it is only looked up.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Map<V> = HashMap<Box<str>, V, BuildHasherDefault<KeyHasher>>;

/// A set of lengths (of keys), lengths from 63 on counted as one: a value
/// whose length is not in it needs no lookup.
#[derive(Debug, Default, Clone, Copy)]
struct Lengths(u64);

impl Lengths {
    fn insert(&mut self, len: usize) {
        self.0 |= 1 << len.min(63);
    }

    fn may_hold(self, len: usize) -> bool {
        self.0 & (1 << len.min(63)) != 0
    }
}

/// A set of bytes: a value lacking a byte of a needle cannot contain it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Bytes([u64; 4]);

impl Bytes {
    fn of(s: &str) -> Bytes {
        let mut set = Bytes::default();
        for b in s.bytes() {
            set.0[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        set
    }

    fn within(&self, other: &Bytes) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & !b == 0)
    }
}

/// The rules keyed on one field, for one family.
#[derive(Debug, Default)]
struct FieldIndex {
    exact: Map<Vec<usize>>,
    exact_lengths: Lengths,
    /// By first byte: those that may prefix a value share its first byte.
    prefix: Buckets,
    /// By last byte: those that may end a value share its last byte.
    suffix: Buckets,
    /// A needle of a path glob holding a whole segment (`/node_modules/`),
    /// under that segment: only values with that segment can contain it.
    contains_by_segment: Map<Vec<(Box<str>, usize)>>,
    segment_lengths: Lengths,
    /// With the bytes of the needle.
    contains: Vec<(Box<str>, Bytes, usize)>,
    /// Rules whose glob matches any value: the field must be present.
    present: Vec<usize>,
}

/// The whole segment a path needle holds (`x` of `.../x/...`), if any.
fn needle_segment(needle: &str) -> Option<&str> {
    let start = needle.find('/')? + 1;
    let len = needle[start..].find('/')?;
    (len > 0).then(|| &needle[start..start + len])
}

/// Keys with their rules, grouped by one byte of the key (first or last).
#[derive(Debug, Default)]
struct Buckets {
    entries: Vec<(Box<str>, usize)>,
    /// Where the entries of byte `b` start, for `b` in 0..=256 (empty
    /// before [`Buckets::seal`]).
    starts: Vec<usize>,
}

impl Buckets {
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Groups the entries by `byte` of their key.
    fn seal(&mut self, byte: fn(&str) -> u8) {
        self.entries.sort_by_key(|(k, r)| (byte(k), *r));
        self.starts = (0..=256)
            .map(|b| {
                self.entries
                    .partition_point(|(k, _)| usize::from(byte(k)) < b)
            })
            .collect();
    }

    /// The entries whose key has byte `b`.
    fn get(&self, b: u8) -> &[(Box<str>, usize)] {
        match self.starts.get(usize::from(b)..usize::from(b) + 2) {
            Some(&[from, to]) => &self.entries[from..to],
            _ => &[],
        }
    }
}

fn first_byte(s: &str) -> u8 {
    s.as_bytes().first().copied().unwrap_or(0)
}

fn last_byte(s: &str) -> u8 {
    s.as_bytes().last().copied().unwrap_or(0)
}

impl FieldIndex {
    fn is_empty(&self) -> bool {
        self.exact.is_empty()
            && self.prefix.is_empty()
            && self.suffix.is_empty()
            && self.contains_by_segment.is_empty()
            && self.contains.is_empty()
            && self.present.is_empty()
    }

    fn insert(&mut self, key: &GlobKey, rule: usize, path: bool) {
        match key {
            GlobKey::Exact(k) => {
                self.exact_lengths.insert(k.len());
                self.exact.entry(k.as_str().into()).or_default().push(rule);
            }
            // Keys are never empty (an empty pattern is an exact key).
            GlobKey::Prefix(k) => self.prefix.entries.push((k.as_str().into(), rule)),
            GlobKey::Suffix(k) => self.suffix.entries.push((k.as_str().into(), rule)),
            GlobKey::Contains(k) => match needle_segment(k).filter(|_| path) {
                Some(segment) => {
                    self.segment_lengths.insert(segment.len());
                    self.contains_by_segment
                        .entry(segment.into())
                        .or_default()
                        .push((k.as_str().into(), rule));
                }
                None => self.contains.push((k.as_str().into(), Bytes::of(k), rule)),
            },
            GlobKey::Any => self.present.push(rule),
            GlobKey::None => {}
        }
    }

    fn seal(&mut self) {
        self.prefix.seal(first_byte);
        self.suffix.seal(last_byte);
    }

    /// Marks the rules whose key `value` satisfies, except those keyed by a
    /// path segment.
    fn mark(&self, value: &str, out: &mut [u64]) {
        self.mark_either(value, None, out);
    }

    /// Marks the rules whose key `value` or `slashed` satisfies, except
    /// those keyed by a path segment. `slashed` is `/` followed by `value`.
    fn mark_either(&self, value: &str, slashed: Option<&str>, out: &mut [u64]) {
        self.present.iter().for_each(|&r| set_bit(out, r));
        for v in std::iter::once(value).chain(slashed) {
            if self.exact_lengths.may_hold(v.len())
                && let Some(rules) = self.exact.get(v)
            {
                rules.iter().for_each(|&r| set_bit(out, r));
            }
            for (k, r) in self.prefix.get(first_byte(v)) {
                if v.starts_with(&**k) {
                    set_bit(out, *r);
                }
            }
        }
        // `/` then `value` ends with a key if `value` does, or is the key
        // (its last byte is that of `value` unless `value` is empty).
        let last = last_byte(slashed.unwrap_or(value));
        for (k, r) in self.suffix.get(last) {
            if value.ends_with(&**k) || slashed.is_some_and(|s| s == &**k) {
                set_bit(out, *r);
            }
        }
        if !self.contains.is_empty() {
            let bytes = Bytes::of(value);
            for (k, needs, r) in &self.contains {
                if (needs.within(&bytes) && value.contains(&**k))
                    || slashed.is_some_and(|s| s.starts_with(&**k))
                {
                    set_bit(out, *r);
                }
            }
        }
    }

    /// Marks the rules whose key a path satisfies, the path read as the
    /// matcher reads it: cut, `\` as `/`, case folded, and a relative path
    /// also as if it started with `/`. `buf` is scratch space.
    fn mark_path(&self, path: &str, buf: &mut String, out: &mut [u64]) {
        let path = capped(path);
        buf.clear();
        buf.push('/');
        if path.is_ascii() {
            // ASCII folds as ASCII (`fold_char` agrees on it).
            buf.push_str(path);
            buf.make_ascii_lowercase();
        } else {
            buf.extend(path.chars().map(fold_char));
        }
        if buf.contains('\\') {
            *buf = buf.replace('\\', "/");
        }
        let value = &buf[1..];
        let relative = !value.starts_with('/');
        self.mark_either(value, relative.then_some(buf.as_str()), out);
        if self.contains_by_segment.is_empty() {
            return;
        }
        // The segments of `value`, between slashes.
        let bytes = value.as_bytes();
        let mut start = 0;
        for end in (0..bytes.len())
            .filter(|&i| bytes[i] == b'/')
            .chain([bytes.len()])
        {
            let segment = &value[start..end];
            start = end + 1;
            if !self.segment_lengths.may_hold(segment.len()) {
                continue;
            }
            let Some(needles) = self.contains_by_segment.get(segment) else {
                continue;
            };
            for (k, r) in needles {
                if value.contains(&**k) || (relative && buf.starts_with(&**k)) {
                    set_bit(out, *r);
                }
            }
        }
    }
}

/// The index of one family.
#[derive(Debug, Default)]
struct FamilyIndex {
    /// Rules without a key: candidates for every frame of the family.
    always: Vec<u64>,
    function: FieldIndex,
    module: FieldIndex,
    abs_path: FieldIndex,
    package: FieldIndex,
}

/// The candidate rules of frames (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct RuleIndex {
    /// Words of a rule bit set.
    words: usize,
    families: [FamilyIndex; 3],
    /// Rules with a (not negated) `category` matcher of their own: they
    /// match no frame while no frame has a category.
    needs_category: Vec<bool>,
    /// Rules whose own frame matchers hold exactly on their candidate frames
    /// (`family:native function:malloc`, `stack.abs_path:**/vendor/**`):
    /// only their caller and callee matchers remain to be evaluated.
    decided: Vec<bool>,
}

fn set_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

/// Whether bit `i` is set.
pub(crate) fn bit(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

impl RuleIndex {
    pub(crate) fn new(rules: &[StacktraceRule]) -> RuleIndex {
        let words = rules.len().div_ceil(64);
        let mut index = RuleIndex {
            words,
            families: Default::default(),
            needs_category: Vec::with_capacity(rules.len()),
            decided: Vec::with_capacity(rules.len()),
        };
        for f in &mut index.families {
            f.always = vec![0; words];
        }
        for (r, rule) in rules.iter().enumerate() {
            // The matchers `frame_matches` evaluates on the frame itself.
            let own: Vec<_> = rule
                .matchers()
                .iter()
                .filter(|m| !m.field().is_exception_field())
                .collect();
            index.needs_category.push(
                own.iter()
                    .any(|m| *m.field() == MatcherField::Category && !m.is_negated()),
            );
            // The most selective key of the rule's own matchers.
            let key = own
                .iter()
                .enumerate()
                .filter(|(_, m)| !m.is_negated())
                .filter_map(|(i, m)| {
                    let field = m.field().clone();
                    match field {
                        MatcherField::Function
                        | MatcherField::Module
                        | MatcherField::AbsPath
                        | MatcherField::Package => Some((i, field, m.glob()?.key())),
                        _ => None,
                    }
                })
                .filter(|(_, _, (key, _))| *key != GlobKey::None)
                .max_by_key(|(_, _, (key, exact))| {
                    let (rank, len) = match key {
                        GlobKey::Exact(k) => (3, k.len()),
                        GlobKey::Prefix(k) | GlobKey::Suffix(k) => (2, k.len()),
                        GlobKey::Contains(k) => (1, k.len()),
                        GlobKey::Any | GlobKey::None => (0, 0),
                    };
                    (rank, *exact, len)
                });
            // Decided: the key is exact and every other own matcher is a
            // `family` one (which the index applies exactly).
            let decided = key.as_ref().is_some_and(|(at, _, (_, exact))| {
                *exact
                    && own
                        .iter()
                        .enumerate()
                        .all(|(i, m)| i == *at || *m.field() == MatcherField::Family)
            });
            index.decided.push(decided);
            for (slot, family) in FAMILIES.into_iter().enumerate() {
                let allowed = own
                    .iter()
                    .filter(|m| *m.field() == MatcherField::Family)
                    .all(|m| m.family_matches(family) != m.is_negated());
                if !allowed {
                    continue;
                }
                let fi = &mut index.families[slot];
                match &key {
                    None => set_bit(&mut fi.always, r),
                    Some((_, field, (key, _))) => match field {
                        MatcherField::Function => fi.function.insert(key, r, false),
                        MatcherField::Module => fi.module.insert(key, r, false),
                        MatcherField::AbsPath => fi.abs_path.insert(key, r, true),
                        _ => fi.package.insert(key, r, true),
                    },
                }
            }
        }
        for fi in &mut index.families {
            for field in [
                &mut fi.function,
                &mut fi.module,
                &mut fi.abs_path,
                &mut fi.package,
            ] {
                field.seal();
            }
        }
        index
    }

    /// Words of a rule bit set.
    pub(crate) fn words(&self) -> usize {
        self.words
    }

    /// Whether the candidate frames of rule `r` are those its own matchers
    /// hold for.
    pub(crate) fn decided(&self, r: usize) -> bool {
        self.decided[r]
    }

    /// Whether rule `r` needs a frame with a category.
    pub(crate) fn needs_category(&self, r: usize) -> bool {
        self.needs_category[r]
    }

    /// Sets in `out` (of [`words`](Self::words) words) the rules a frame
    /// could match. Frames in a row often share their paths and package:
    /// `scratch` keeps what the last ones marked.
    pub(crate) fn candidates<'f>(
        &self,
        view: &FrameView<'f>,
        scratch: &mut Scratch<'f>,
        out: &mut [u64],
    ) {
        let slot = family_slot(view.family);
        let fi = &self.families[slot];
        out.copy_from_slice(&fi.always);
        let f = view.frame;
        if let Some(v) = f.function.as_deref()
            && !fi.function.is_empty()
        {
            fi.function.mark(capped(v), out);
        }
        if let Some(v) = f.module.as_deref()
            && !fi.module.is_empty()
        {
            fi.module.mark(capped(v), out);
        }
        let Scratch {
            buf,
            paths,
            package,
        } = scratch;
        if !fi.abs_path.is_empty() {
            let key = (slot, f.abs_path.as_deref(), f.filename.as_deref());
            paths.mark(key, out, |bits| {
                for p in [key.1, key.2].into_iter().flatten() {
                    fi.abs_path.mark_path(p, buf, bits);
                }
            });
        }
        if let Some(p) = f.package.as_deref()
            && !fi.package.is_empty()
        {
            package.mark((slot, p), out, |bits| fi.package.mark_path(p, buf, bits));
        }
    }
}

/// What [`RuleIndex::candidates`] keeps between the frames of one stack
/// trace.
#[derive(Debug, Default)]
pub(crate) struct Scratch<'f> {
    buf: String,
    paths: Memo<(usize, Option<&'f str>, Option<&'f str>)>,
    package: Memo<(usize, &'f str)>,
}

/// The rules marked for the last key.
#[derive(Debug)]
struct Memo<K> {
    key: Option<K>,
    bits: Vec<u64>,
}

impl<K> Default for Memo<K> {
    fn default() -> Self {
        Memo {
            key: None,
            bits: Vec::new(),
        }
    }
}

impl<K: PartialEq> Memo<K> {
    /// Marks in `out` what `mark` marks for `key`, computed only when the
    /// key is not the last one.
    fn mark(&mut self, key: K, out: &mut [u64], mark: impl FnOnce(&mut [u64])) {
        if self.key.as_ref() != Some(&key) {
            self.bits.clear();
            self.bits.resize(out.len(), 0);
            mark(&mut self.bits);
            self.key = Some(key);
        }
        for (o, b) in out.iter_mut().zip(&self.bits) {
            *o |= *b;
        }
    }
}
