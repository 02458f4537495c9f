//! YAML text to a tree whose every node knows its line and column.
//!
//! serde_yaml's values carry no positions and its deserializer stops at the first fault, so the
//! configuration is read from saphyr-parser's events (YAML 1.2, each event with its span) into
//! this small tree, which [`read`](super::read) then walks, collecting every fault with the
//! line of the key or value concerned. Scalars keep the text as written: whether `80` is a
//! number or `eth0` a name is decided by the walk, field by field, as the schema says.
//!
//! saphyr-parser follows YAML 1.2 to the letter; libyaml (serde_yaml's parser, which lvs used
//! before) lets a few things pass that the specification does not, such as a flow mapping
//! continued at column 1 inside a block sequence. So that a file read before still reads,
//! [`read_lenient`] takes serde_yaml's tree when saphyr-parser refuses the text: the faults
//! found in it then have no line.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// Deepest nesting read; a configuration needs 6 levels.
const MAX_DEPTH: usize = 64;
/// Most nodes a document may hold once its aliases are expanded (a guard against alias bombs).
const MAX_NODES: usize = 1_000_000;

/// A place in the text: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Mark {
    fn of(span: Span) -> Mark {
        Mark {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A node of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts (for a block mapping: its first key).
    pub mark: Mark,
    /// A tag other than the core schema's (`!foo`), which lvs does not use.
    pub tag: Option<String>,
    /// What it holds.
    pub value: Value,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar, as written (quotes and escapes resolved).
    Scalar {
        /// The text.
        text: String,
        /// Written plain (not quoted, not a block scalar, not tagged `!!str`): only a plain
        /// scalar can be a number, a boolean or null.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order, repeated keys kept (the walk reports them).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A plain `~`, `null` or nothing at all (`key:`).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    fn size(&self) -> usize {
        match &self.value {
            Value::Scalar { .. } => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }
}

/// Why the text is not YAML, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxFault {
    /// Where the parser stopped.
    pub mark: Mark,
    /// What it found.
    pub message: String,
}

enum Frame {
    Seq {
        mark: Mark,
        anchor: usize,
        tag: Option<String>,
        items: Vec<Node>,
    },
    Map {
        mark: Mark,
        anchor: usize,
        tag: Option<String>,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

/// Reads the one document of `text`; `None` when it holds none.
pub fn read(text: &str) -> Result<Option<Node>, SyntaxFault> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    let mut nodes = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| SyntaxFault {
            mark: Mark {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_owned(),
        })?;
        let mark = Mark::of(span);
        let fault = |message: &str| SyntaxFault {
            mark,
            message: message.to_owned(),
        };
        let is_seq = matches!(event, Event::SequenceStart(..));
        let done = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(fault(
                        "a second YAML document starts here; the configuration is one document",
                    ));
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let (tag, is_str) = tag_of(tag.as_deref());
                let node = Node {
                    mark,
                    tag,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain && !is_str,
                    },
                };
                if anchor != 0 {
                    anchors.insert(anchor, node.clone());
                }
                nodes += 1;
                Some(node)
            }
            Event::Alias(id) => {
                let Some(node) = anchors.get(&id) else {
                    return Err(fault("an alias to an unknown anchor"));
                };
                nodes += node.size();
                if nodes > MAX_NODES {
                    return Err(fault(
                        "the aliases expand to more than a million nodes; write the values out",
                    ));
                }
                let mut node = node.clone();
                node.mark = mark;
                Some(node)
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fault("nested deeper than 64 levels"));
                }
                let tag = tag_of(tag.as_deref()).0;
                stack.push(if is_seq {
                    Frame::Seq {
                        mark,
                        anchor,
                        tag,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        mark,
                        anchor,
                        tag,
                        entries: Vec::new(),
                        key: None,
                    }
                });
                nodes += 1;
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Frame::Seq {
                        mark,
                        anchor,
                        tag,
                        items,
                    }) => (
                        Node {
                            mark,
                            tag,
                            value: Value::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        mark,
                        anchor,
                        tag,
                        entries,
                        ..
                    }) => (
                        Node {
                            mark,
                            tag,
                            value: Value::Map(entries),
                        },
                        anchor,
                    ),
                    None => return Err(fault("the end of a collection that was not started")),
                };
                if anchor != 0 {
                    anchors.insert(anchor, node.clone());
                }
                Some(node)
            }
        };
        if nodes > MAX_NODES {
            return Err(fault("more than a million nodes"));
        }
        let Some(node) = done else { continue };
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
    Ok(root)
}

/// The document as serde_yaml reads it, for text that [`read`] refuses: the same tree, every
/// mark 0 (unknown). `None` when serde_yaml refuses it too.
pub fn read_lenient(text: &str) -> Option<Node> {
    serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .map(from_value)
}

fn from_value(value: serde_yaml::Value) -> Node {
    use serde_yaml::Value as V;
    let scalar = |text: String, plain: bool| Value::Scalar { text, plain };
    let (tag, value) = match value {
        V::Null => (None, scalar(String::new(), true)),
        V::Bool(b) => (None, scalar(b.to_string(), true)),
        V::Number(n) => (None, scalar(n.to_string(), true)),
        V::String(s) => (None, scalar(s, false)),
        V::Sequence(items) => (
            None,
            Value::Seq(items.into_iter().map(from_value).collect()),
        ),
        V::Mapping(m) => (
            None,
            Value::Map(
                m.into_iter()
                    .map(|(k, v)| (from_value(k), from_value(v)))
                    .collect(),
            ),
        ),
        V::Tagged(t) => {
            let mut inner = from_value(t.value);
            inner.tag = Some(t.tag.to_string());
            return inner;
        }
    };
    Node {
        mark: Mark::default(),
        tag,
        value,
    }
}

/// A node's tag as lvs sees it: core-schema tags are dropped (`!!str` makes the scalar text,
/// the second value), any other is kept for the walk to refuse.
fn tag_of(tag: Option<&Tag>) -> (Option<String>, bool) {
    match tag {
        None => (None, false),
        Some(t) if t.handle == "tag:yaml.org,2002:" => (None, t.suffix == "str"),
        Some(t) if t.handle == "!!" => (None, t.suffix == "str"),
        Some(t) => (Some(format!("{}{}", t.handle, t.suffix)), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> (&str, bool) {
        match &node.value {
            Value::Scalar { text, plain } => (text, *plain),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    #[test]
    fn nodes_know_their_line_and_column() {
        let root = read("a: 1\nb:\n  - x\n  - {c: 'q'}\n")
            .expect("yaml")
            .expect("a document");
        let Value::Map(entries) = &root.value else {
            panic!("a map")
        };
        assert_eq!(entries[0].0.mark, Mark { line: 1, column: 1 });
        assert_eq!(entries[0].1.mark, Mark { line: 1, column: 4 });
        assert_eq!(scalar(&entries[0].1), ("1", true));
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("a seq")
        };
        assert_eq!(items[1].mark, Mark { line: 4, column: 5 });
        let Value::Map(inner) = &items[1].value else {
            panic!("a map")
        };
        assert_eq!(scalar(&inner[0].1), ("q", false));
    }

    #[test]
    fn aliases_tags_and_documents() {
        let root = read("a: &x [1]\nb: *x\nc: !!str 12\nd: !foo 1\n")
            .expect("yaml")
            .expect("a document");
        let Value::Map(entries) = &root.value else {
            panic!("a map")
        };
        assert_eq!(entries[1].1.value, entries[0].1.value);
        assert_eq!(entries[1].1.mark.line, 2);
        assert_eq!(scalar(&entries[2].1), ("12", false));
        assert_eq!(entries[3].1.tag.as_deref(), Some("!foo"));

        let err = read("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert_eq!(err.mark.line, 2);
        let err = read("a: [1, 2\nb: 3\n").expect_err("unclosed");
        assert_eq!(err.mark.line, 2);
        assert_eq!(read("# nothing\n").expect("yaml"), None);
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(read(&deep).is_err());
    }

    #[test]
    fn what_only_libyaml_accepts_still_reads() {
        let text = "s:\n- {a: 1,\nb: x}\n";
        assert!(read(text).is_err(), "saphyr-parser refuses it");
        let root = read_lenient(text).expect("serde_yaml reads it");
        let Value::Map(entries) = &root.value else {
            panic!("a map")
        };
        let Value::Seq(items) = &entries[0].1.value else {
            panic!("a seq")
        };
        let Value::Map(inner) = &items[0].value else {
            panic!("a map")
        };
        assert_eq!(scalar(&inner[0].1), ("1", true));
        assert_eq!(scalar(&inner[1].1), ("x", false));
        assert_eq!(inner[1].1.mark, Mark::default());
    }
}
