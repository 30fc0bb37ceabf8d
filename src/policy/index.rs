//! Finding the statements that may apply to a request without scanning them all.
//!
//! A statement goes into exactly one bucket, chosen at compile time:
//! - **by resource literal**: every `Resource` entry is an ARN whose resource part contains literal text
//!   between its wildcards (`*.anthropic.claude-sonnet-4-5*` holds `.anthropic.claude-sonnet-4-5`). Any
//!   ARN the pattern matches must contain that text, so the statement is filed under its longest literal
//!   run. An Aho-Corasick automaton over all those literals, run once along the request ARN's resource
//!   part, yields exactly the statements whose literal occurs in it: linear in the resource's length plus
//!   the candidates, whatever the number of statements.
//! - **by action**: otherwise, when every `Action` entry is a literal name (no wildcard), a sorted table
//!   keyed by the lowercased action.
//! - **scan**: everything else (`*` resources, `NotResource`, wildcard actions).
//!
//! The index only narrows: every candidate is still matched in full, so a bucket can never widen or
//! narrow a decision, only make it cheaper. Lookups allocate nothing.

/// Statement positions in the owning `PolicySet`.
pub(crate) type Id = u32;

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// The automaton; node 0 is the root (the empty literal, never filed).
    nodes: Vec<Node>,
    /// Sorted by lowercased action.
    by_action: Vec<(Box<str>, Vec<Id>)>,
    scan: Vec<Id>,
}

#[derive(Debug, Clone)]
struct Node {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    /// Longest proper suffix of this node's text that is also a node (Aho-Corasick failure link).
    fail: u32,
    /// Nearest node along the failure chain that has statements (`NONE` if none).
    dict: u32,
    here: Vec<Id>,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            children: Vec::new(),
            fail: 0,
            dict: NONE,
            here: Vec::new(),
        }
    }
}

/// Where one statement is filed.
pub(crate) enum Key<'a> {
    /// One required literal per Resource pattern (none empty).
    ResourceLiterals(Vec<&'a str>),
    Actions(Vec<&'a str>),
    Scan,
}

impl Index {
    pub(crate) fn insert(&mut self, id: Id, key: Key<'_>) {
        match key {
            Key::ResourceLiterals(literals) => {
                if self.nodes.is_empty() {
                    self.nodes.push(Node::default());
                }
                for literal in literals {
                    let mut node = 0usize;
                    for &b in literal.as_bytes() {
                        node = match self.child(node, b) {
                            Some(child) => child,
                            None => {
                                let child = self.nodes.len();
                                self.nodes.push(Node::default());
                                let children = &mut self.nodes[node].children;
                                let at = children.partition_point(|c| c.0 < b);
                                children.insert(at, (b, child as u32));
                                child
                            }
                        };
                    }
                    let here = &mut self.nodes[node].here;
                    if here.last() != Some(&id) {
                        here.push(id);
                    }
                }
            }
            Key::Actions(actions) => {
                for action in actions {
                    let action = action.to_ascii_lowercase();
                    match self
                        .by_action
                        .binary_search_by(|(a, _)| (**a).cmp(action.as_str()))
                    {
                        Ok(i) => {
                            let ids = &mut self.by_action[i].1;
                            if ids.last() != Some(&id) {
                                ids.push(id);
                            }
                        }
                        Err(i) => self.by_action.insert(i, (action.into(), vec![id])),
                    }
                }
            }
            Key::Scan => self.scan.push(id),
        }
    }

    fn child(&self, node: usize, b: u8) -> Option<usize> {
        let children = &self.nodes[node].children;
        children
            .binary_search_by_key(&b, |c| c.0)
            .ok()
            .map(|i| children[i].1 as usize)
    }

    /// Computes the failure and output links once every statement is inserted (breadth first, so a
    /// node's failure target is always finished before the node).
    pub(crate) fn finish(&mut self) {
        if self.nodes.is_empty() {
            return;
        }
        let mut queue: Vec<usize> = self.nodes[0]
            .children
            .iter()
            .map(|c| c.1 as usize)
            .collect();
        let mut next = 0;
        while next < queue.len() {
            let node = queue[next];
            next += 1;
            let children = self.nodes[node].children.clone();
            for (b, child) in children {
                let child = child as usize;
                let mut f = self.nodes[node].fail as usize;
                let fail = loop {
                    if let Some(target) = self.child(f, b) {
                        break target;
                    }
                    if f == 0 {
                        break 0;
                    }
                    f = self.nodes[f].fail as usize;
                };
                let dict = if self.nodes[fail].here.is_empty() {
                    self.nodes[fail].dict
                } else {
                    fail as u32
                };
                self.nodes[child].fail = fail as u32;
                self.nodes[child].dict = dict;
                queue.push(child);
            }
        }
    }

    /// Every statement that may apply to `action` on a resource whose ARN resource part is `resource`
    /// (`None` for a non-ARN resource such as `*`). A statement may be yielded more than once.
    pub(crate) fn candidates<'a>(
        &'a self,
        action: &'a str,
        resource: Option<&'a str>,
    ) -> impl Iterator<Item = Id> + 'a {
        let by_resource = Matches {
            nodes: &self.nodes,
            bytes: resource.unwrap_or("").as_bytes(),
            pos: 0,
            state: 0,
            out: NONE,
        }
        .flat_map(|ids| ids.iter().copied());
        let by_action = self
            .by_action
            .binary_search_by(|(a, _)| cmp_lowercase(a, action))
            .ok()
            .map(|i| self.by_action[i].1.as_slice())
            .unwrap_or(&[]);
        by_resource
            .chain(by_action.iter().copied())
            .chain(self.scan.iter().copied())
    }
}

/// Compares an already lowercased `a` with `b` lowercased on the fly (no allocation).
fn cmp_lowercase(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes().cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Runs the automaton along the request resource and yields the statement lists of every literal
/// that occurs in it.
struct Matches<'a> {
    nodes: &'a [Node],
    bytes: &'a [u8],
    pos: usize,
    state: usize,
    /// Next node of the current position's output chain still to report.
    out: u32,
}

impl<'a> Iterator for Matches<'a> {
    type Item = &'a [Id];

    fn next(&mut self) -> Option<&'a [Id]> {
        if self.nodes.is_empty() {
            return None;
        }
        loop {
            if self.out != NONE {
                let node = &self.nodes[self.out as usize];
                self.out = node.dict;
                if !node.here.is_empty() {
                    return Some(&node.here);
                }
                continue;
            }
            let &b = self.bytes.get(self.pos)?;
            self.pos += 1;
            loop {
                let children = &self.nodes[self.state].children;
                if let Ok(i) = children.binary_search_by_key(&b, |c| c.0) {
                    self.state = children[i].1 as usize;
                    break;
                }
                if self.state == 0 {
                    break;
                }
                self.state = self.nodes[self.state].fail as usize;
            }
            if self.state != 0 {
                self.out = self.state as u32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_lookups() {
        let mut index = Index::default();
        index.insert(
            0,
            Key::ResourceLiterals(vec!["foundation-model/anthropic."]),
        );
        index.insert(
            1,
            Key::ResourceLiterals(vec!["foundation-model/", "inference-profile/"]),
        );
        index.insert(2, Key::Actions(vec!["bedrock:InvokeModel"]));
        index.insert(3, Key::Scan);
        // Literals found inside the resource, not only at its start, and overlapping ones.
        index.insert(4, Key::ResourceLiterals(vec![".anthropic.claude"]));
        index.insert(5, Key::ResourceLiterals(vec!["claude"]));
        index.insert(6, Key::ResourceLiterals(vec!["-profile/eu."]));
        index.finish();
        let ids = |action, resource| {
            let mut v: Vec<Id> = index.candidates(action, resource).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        assert_eq!(
            ids(
                "bedrock:invokemodel",
                Some("foundation-model/anthropic.claude")
            ),
            [0, 1, 2, 3, 5]
        );
        assert_eq!(
            ids("bedrock:Converse", Some("foundation-model/amazon.nova")),
            [1, 3]
        );
        assert_eq!(
            ids("bedrock:InvokeModel", Some("inference-profile/x")),
            [1, 2, 3]
        );
        assert_eq!(
            ids(
                "bedrock:Converse",
                Some("inference-profile/eu.anthropic.claude-x")
            ),
            [1, 3, 4, 5, 6]
        );
        assert_eq!(ids("bedrock:InvokeModel", None), [2, 3]);
        assert_eq!(ids("s3:GetObject", Some("bucket/x")), [3]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The automaton yields exactly the literals that occur in the text.
        #[test]
        fn finds_every_occurring_literal(
            literals in prop::collection::vec("[ab/.]{1,4}", 1..8),
            text in "[ab/.]{0,16}",
        ) {
            let mut index = Index::default();
            for (id, literal) in literals.iter().enumerate() {
                index.insert(id as Id, Key::ResourceLiterals(vec![literal.as_str()]));
            }
            index.finish();
            let mut got: Vec<Id> = index.candidates("x:y", Some(&text)).collect();
            got.sort_unstable();
            got.dedup();
            let want: Vec<Id> = literals
                .iter()
                .enumerate()
                .filter(|(_, l)| text.contains(l.as_str()))
                .map(|(id, _)| id as Id)
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
