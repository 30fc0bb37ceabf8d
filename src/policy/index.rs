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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Statement positions in the owning `PolicySet`.
pub(crate) type Id = u32;

const NONE: u32 = u32::MAX;

/// The automaton is stored flat (plain-data nodes, one edge array, one list per literal) so that
/// 10,000 statements make a handful of allocations, not one per node: compile time was dominated by
/// the allocator before.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Node 0 is the root (the empty literal, never filed).
    nodes: Vec<Node>,
    /// Each node's outgoing edges, sorted by byte, at `nodes[n].first..+len` (built by `finish`).
    edges: Vec<(u8, u32)>,
    /// Edges while inserting: (node, byte) -> child.
    building: HashMap<(u32, u8), u32, BuildHasherDefault<EdgeHasher>>,
    /// Statement lists of the nodes that end a literal, while inserting.
    lists: Vec<Vec<Id>>,
    /// The same lists laid out flat by `finish` (list `i` is `listed[list_ends[i-1]..list_ends[i]]`):
    /// one allocation instead of one per literal.
    listed: Vec<Id>,
    list_ends: Vec<u32>,
    /// The root's transitions for every byte (0: stay at the root). The walk falls back to the root
    /// at most bytes of an ARN, where a binary search over its many edges was the slowest step.
    root: Vec<u32>,
    /// Sorted by lowercased action.
    by_action: Vec<(Box<str>, Vec<Id>)>,
    scan: Vec<Id>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    first: u32,
    len: u32,
    /// Longest proper suffix of this node's text that is also a node (Aho-Corasick failure link).
    fail: u32,
    /// Nearest node along the failure chain that ends a literal (`NONE` if none).
    dict: u32,
    /// Index in `lists` when this node ends a literal, else `NONE`.
    here: u32,
    /// The first node to report when the walk reaches this one: itself if it ends a literal, else
    /// `dict` (`NONE`: nothing to report, the common case).
    report: u32,
}

const NEW_NODE: Node = Node {
    first: 0,
    len: 0,
    fail: 0,
    dict: NONE,
    here: NONE,
    report: NONE,
};

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
                    self.nodes.push(NEW_NODE);
                }
                for literal in literals {
                    let mut node = 0u32;
                    for &b in literal.as_bytes() {
                        let next = self.nodes.len() as u32;
                        let child = *self.building.entry((node, b)).or_insert(next);
                        if child == next {
                            self.nodes.push(NEW_NODE);
                        }
                        node = child;
                    }
                    let slot = &mut self.nodes[node as usize].here;
                    if *slot == NONE {
                        *slot = self.lists.len() as u32;
                        self.lists.push(Vec::new());
                    }
                    let here = &mut self.lists[*slot as usize];
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

    /// Statement list `i` (after `finish`).
    fn list(&self, i: usize) -> &[Id] {
        let start = match i.checked_sub(1) {
            Some(before) => self.list_ends[before] as usize,
            None => 0,
        };
        &self.listed[start..self.list_ends[i] as usize]
    }

    fn children(&self, node: usize) -> &[(u8, u32)] {
        let n = &self.nodes[node];
        &self.edges[n.first as usize..(n.first + n.len) as usize]
    }

    fn child(&self, node: usize, b: u8) -> Option<usize> {
        let children = self.children(node);
        children
            .binary_search_by_key(&b, |c| c.0)
            .ok()
            .map(|i| children[i].1 as usize)
    }

    /// Lays the edges out flat and computes the failure and output links once every statement is
    /// inserted (breadth first, so a node's failure target is always finished before the node).
    pub(crate) fn finish(&mut self) {
        if self.nodes.is_empty() {
            return;
        }
        let mut all: Vec<(u32, u8, u32)> = self
            .building
            .drain()
            .map(|((node, b), child)| (node, b, child))
            .collect();
        self.building = HashMap::default();
        all.sort_unstable();
        self.edges = Vec::with_capacity(all.len());
        for (node, b, child) in all {
            let n = &mut self.nodes[node as usize];
            if n.len == 0 {
                n.first = self.edges.len() as u32;
            }
            n.len += 1;
            self.edges.push((b, child));
        }
        let mut queue: Vec<u32> = self.children(0).iter().map(|c| c.1).collect();
        let mut next = 0;
        while next < queue.len() {
            let node = queue[next] as usize;
            next += 1;
            let (first, len) = (
                self.nodes[node].first as usize,
                self.nodes[node].len as usize,
            );
            for e in first..first + len {
                let (b, child) = self.edges[e];
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
                let dict = if self.nodes[fail].here == NONE {
                    self.nodes[fail].dict
                } else {
                    fail as u32
                };
                self.nodes[child].fail = fail as u32;
                self.nodes[child].dict = dict;
                queue.push(child as u32);
            }
        }
        for (n, node) in self.nodes.iter_mut().enumerate() {
            node.report = if node.here == NONE {
                node.dict
            } else {
                n as u32
            };
        }
        for list in std::mem::take(&mut self.lists) {
            self.listed.extend_from_slice(&list);
            self.list_ends.push(self.listed.len() as u32);
        }
        // Vectors grown by doubling may hold twice what they use; a compiled set lives long.
        self.nodes.shrink_to_fit();
        let mut root = vec![0; 256];
        for &(b, child) in self.children(0) {
            root[usize::from(b)] = child;
        }
        self.root = root;
    }

    /// Every statement that may apply to `action` on a resource whose ARN resource part is `resource`
    /// (`None` for a non-ARN resource such as `*`). A statement may be yielded more than once.
    #[cfg(test)]
    pub(crate) fn candidates<'a>(
        &'a self,
        action: &'a str,
        resource: Option<&'a str>,
    ) -> impl Iterator<Item = Id> + 'a {
        self.resource_candidates(resource)
            .chain(self.action_candidates(action).copied())
    }

    /// The statements filed under a literal that occurs in `resource` (one automaton walk).
    pub(crate) fn resource_candidates<'a>(
        &'a self,
        resource: Option<&'a str>,
    ) -> impl Iterator<Item = Id> + 'a {
        Matches {
            index: self,
            bytes: resource.unwrap_or("").as_bytes(),
            pos: 0,
            state: 0,
            out: NONE,
        }
        .flat_map(|ids| ids.iter().copied())
    }

    /// The statements filed under `action`, then the ones always scanned: no walk needed.
    pub(crate) fn action_candidates<'a>(
        &'a self,
        action: &str,
    ) -> impl Iterator<Item = &'a Id> + 'a {
        let by_action = self
            .by_action
            .binary_search_by(|(a, _)| cmp_lowercase(a, action))
            .ok()
            .map(|i| self.by_action[i].1.as_slice())
            .unwrap_or(&[]);
        by_action.iter().chain(self.scan.iter())
    }
}

/// How many statement ids one remembered walk holds; a walk yielding more is simply not remembered.
const WALK_CAPACITY: usize = 32;

/// The result of the last automaton walk, for the next check of the same call: the checks of an
/// inference-profile call repeat one resource part (the model in each destination region), so the
/// walk is done once per distinct resource part instead of once per check. Lives on the stack of one
/// decision and belongs to one `Index`.
pub(crate) struct Walk<'r> {
    resource: Option<&'r str>,
    ids: [Id; WALK_CAPACITY],
    len: usize,
}

impl<'r> Walk<'r> {
    pub(crate) fn new() -> Self {
        Self {
            resource: None,
            ids: [0; WALK_CAPACITY],
            len: 0,
        }
    }

    /// The resource candidates of `resource` in `index`, walking only when `resource` differs from
    /// the last one; `None` when they do not fit (the caller walks instead).
    pub(crate) fn candidates(&mut self, index: &Index, resource: &'r str) -> Option<&[Id]> {
        if self.resource != Some(resource) {
            self.resource = None;
            self.len = 0;
            for id in index.resource_candidates(Some(resource)) {
                if self.len == WALK_CAPACITY {
                    self.len = 0;
                    return None;
                }
                self.ids[self.len] = id;
                self.len += 1;
            }
            self.resource = Some(resource);
        }
        Some(&self.ids[..self.len])
    }
}

/// A multiplicative hash for (node, byte) keys: SipHash's DoS resistance buys nothing for keys taken
/// from the operator's own policies, and costs a third of compile time.
#[derive(Debug, Clone, Copy, Default)]
struct EdgeHasher(u64);

impl EdgeHasher {
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for EdgeHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.mix(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }
}

/// Compares an already lowercased `a` with `b` lowercased on the fly (no allocation).
fn cmp_lowercase(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes().cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Runs the automaton along the request resource and yields the statement lists of every literal
/// that occurs in it.
struct Matches<'a> {
    index: &'a Index,
    bytes: &'a [u8],
    pos: usize,
    state: usize,
    /// Next node of the current position's output chain still to report.
    out: u32,
}

impl<'a> Iterator for Matches<'a> {
    type Item = &'a [Id];

    fn next(&mut self) -> Option<&'a [Id]> {
        let index = self.index;
        if index.nodes.is_empty() {
            return None;
        }
        loop {
            if self.out != NONE {
                // `report` and `dict` only ever point at nodes that end a literal.
                let node = &index.nodes[self.out as usize];
                self.out = node.dict;
                return Some(index.list(node.here as usize));
            }
            let &b = self.bytes.get(self.pos)?;
            self.pos += 1;
            self.state = loop {
                if self.state == 0 {
                    break index.root[usize::from(b)] as usize;
                }
                if let Some(child) = index.child(self.state, b) {
                    break child;
                }
                self.state = index.nodes[self.state].fail as usize;
            };
            self.out = index.nodes[self.state].report;
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
mod walk_tests {
    use super::*;

    #[test]
    fn remembers_the_last_walk_and_gives_up_beyond_capacity() {
        let mut index = Index::default();
        for id in 0..40 {
            let literal = if id < 3 { "model-a" } else { "model-b" };
            index.insert(id, Key::ResourceLiterals(vec![literal]));
        }
        index.finish();
        // Equal text in distinct strings, as two checks of one call have.
        let (a, a_again, b) = (
            String::from("foundation-model/model-a"),
            String::from("foundation-model/model-a"),
            String::from("foundation-model/model-b"),
        );
        let mut walk = Walk::new();
        assert_eq!(walk.candidates(&index, &a), Some(&[0, 1, 2][..]));
        assert_eq!(walk.candidates(&index, &a_again), Some(&[0, 1, 2][..]));
        // 37 candidates do not fit: the caller must walk itself, and nothing stale is kept.
        assert_eq!(walk.candidates(&index, &b), None);
        assert_eq!(walk.candidates(&index, &b), None);
        assert_eq!(walk.candidates(&index, &a), Some(&[0, 1, 2][..]));
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
