//! The explanation: a tree of grouping components.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One node of the explanation tree: a part of the event that was considered for
/// grouping, whether it counted (`contributes`), and if not, why (`hint`).
///
/// Only the `values` of components that contribute — and whose ancestors all
/// contribute — go into the grouping key. For example a frame's `function`
/// component carries the normalized function name; a `stacktrace` component
/// carries no value of its own, only `frame` children.
///
/// Serialized to JSON as `{"name": .., "contributes": .., "hint": .., "values": [..],
/// "children": [..]}`, with `hint`, `values` and `children` left out when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    /// What this part is: `exception`, `stacktrace`, `frame`, `function`, `message` ...
    pub name: Cow<'static, str>,
    /// Whether this part counts for the grouping key.
    pub contributes: bool,
    /// Why the part does not count, or how its value was normalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Cow<'static, str>>,
    /// The (normalized) values this part adds to the key when it contributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The parts this part is made of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Component>,
}

impl Component {
    /// A contributing leaf with one value.
    pub fn leaf(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            name: Cow::Borrowed(name),
            contributes: true,
            hint: None,
            values: vec![value.into()],
            children: Vec::new(),
        }
    }

    /// A component with children; it contributes when any child contributes.
    pub fn parent(name: &'static str, children: Vec<Component>) -> Self {
        let contributes = children.iter().any(|c| c.contributes);
        Self {
            name: Cow::Borrowed(name),
            contributes,
            hint: None,
            values: Vec::new(),
            children,
        }
    }

    /// A component that does not contribute, with the reason.
    pub fn ignored(name: &'static str, hint: impl Into<Cow<'static, str>>) -> Self {
        Self {
            name: Cow::Borrowed(name),
            contributes: false,
            hint: Some(hint.into()),
            values: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Marks this component as not contributing, with the reason. A component
    /// that was already excluded keeps its own reason; the hint of one that
    /// contributed (a normalization note) is replaced.
    pub fn exclude(&mut self, hint: impl Into<Cow<'static, str>>) {
        if self.contributes {
            self.contributes = false;
            self.hint = Some(hint.into());
        }
    }

    /// Marks this component as not contributing, replacing any previous hint.
    pub(crate) fn exclude_because(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.contributes = false;
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint (for a normalization note on a contributing component).
    pub(crate) fn with_hint(mut self, hint: impl Into<Cow<'static, str>>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The values that go into the key, in order: this component's values and
    /// those of its contributing descendants, when this component contributes.
    pub fn contributing_values(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit_contributing(&mut |_, v| out.push(v));
        out
    }

    /// Calls `f(component name, value)` for every value that goes into the key.
    pub(crate) fn visit_contributing<'a>(&'a self, f: &mut impl FnMut(&'a str, &'a str)) {
        if !self.contributes {
            return;
        }
        for v in &self.values {
            f(&self.name, v);
        }
        for c in &self.children {
            c.visit_contributing(f);
        }
    }

    /// Like [`visit_contributing`](Self::visit_contributing), with the
    /// component `replaced` (found by identity) standing for the children of
    /// `by`, as if `by` had contributed in its place: how the key of another
    /// variant is computed without building a second tree.
    pub(crate) fn visit_contributing_replacing<'a>(
        &'a self,
        replaced: &Component,
        by: &'a Component,
        f: &mut impl FnMut(&'a str, &'a str),
    ) {
        if std::ptr::eq(self, replaced) {
            for v in &by.values {
                f(&by.name, v);
            }
            for c in &by.children {
                c.visit_contributing(f);
            }
            return;
        }
        if !self.contributes {
            return;
        }
        for v in &self.values {
            f(&self.name, v);
        }
        for c in &self.children {
            c.visit_contributing_replacing(replaced, by, f);
        }
    }

    /// The first descendant (or this component) with the given name.
    pub fn find(&self, name: &str) -> Option<&Component> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_contributing_paths_give_values() {
        let mut ignored_frame = Component::parent("frame", vec![Component::leaf("function", "b")]);
        ignored_frame.exclude("non app frame");
        let tree = Component::parent(
            "stacktrace",
            vec![
                Component::parent(
                    "frame",
                    vec![
                        Component::leaf("function", "a"),
                        Component::ignored("filename", "x"),
                    ],
                ),
                ignored_frame,
            ],
        );
        assert!(tree.contributes);
        assert_eq!(tree.contributing_values(), vec!["a"]);
        assert_eq!(
            tree.find("filename").and_then(|c| c.hint.as_deref()),
            Some("x")
        );
    }

    #[test]
    fn serializes_compactly() {
        let c = Component::parent("message", vec![Component::leaf("value", "hi")]);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"name":"message","contributes":true,"children":[{"name":"value","contributes":true,"values":["hi"]}]}"#
        );
        let back: Component = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
