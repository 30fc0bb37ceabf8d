//! Finding the statements that may apply to a request without scanning them all.
//!
//! A statement goes into exactly one bucket, chosen at compile time:
//! - **by resource prefix**: every `Resource` entry is an ARN whose resource part starts with literal
//!   text (`foundation-model/anthropic.`). A byte trie over those prefixes yields, while walking the
//!   request ARN's resource part once, exactly the statements whose prefix it starts with.
//! - **by action**: otherwise, when every `Action` entry is a literal name (no wildcard), a sorted table
//!   keyed by the lowercased action.
//! - **scan**: everything else (`*` resources, `NotResource`, wildcard actions).
//!
//! The index only narrows: every candidate is still matched in full, so a bucket can never widen or
//! narrow a decision, only make it cheaper. Lookups allocate nothing.

/// Statement positions in the owning `PolicySet`.
pub(crate) type Id = u32;

#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    trie: Vec<Node>,
    /// Sorted by lowercased action.
    by_action: Vec<(Box<str>, Vec<Id>)>,
    scan: Vec<Id>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Sorted by byte.
    children: Vec<(u8, u32)>,
    here: Vec<Id>,
}

/// Where one statement is filed.
pub(crate) enum Key<'a> {
    ResourcePrefixes(Vec<&'a str>),
    Actions(Vec<&'a str>),
    Scan,
}

impl Index {
    pub(crate) fn insert(&mut self, id: Id, key: Key<'_>) {
        match key {
            Key::ResourcePrefixes(prefixes) => {
                if self.trie.is_empty() {
                    self.trie.push(Node::default());
                }
                for prefix in prefixes {
                    let mut node = 0usize;
                    for &b in prefix.as_bytes() {
                        node = match self.trie[node].children.binary_search_by_key(&b, |c| c.0) {
                            Ok(i) => self.trie[node].children[i].1 as usize,
                            Err(i) => {
                                let child = self.trie.len();
                                self.trie.push(Node::default());
                                self.trie[node].children.insert(i, (b, child as u32));
                                child
                            }
                        };
                    }
                    let here = &mut self.trie[node].here;
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

    /// Every statement that may apply to `action` on a resource whose ARN resource part is `resource`
    /// (`None` for a non-ARN resource such as `*`). A statement may be yielded more than once.
    pub(crate) fn candidates<'a>(
        &'a self,
        action: &'a str,
        resource: Option<&'a str>,
    ) -> impl Iterator<Item = Id> + 'a {
        let by_resource = TrieWalk {
            trie: &self.trie,
            node: (!self.trie.is_empty()).then_some(0),
            bytes: resource.unwrap_or("").as_bytes(),
            pos: 0,
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

/// Yields the statement lists of the trie nodes along the request resource's bytes (root excluded:
/// empty prefixes are never filed in the trie).
struct TrieWalk<'a> {
    trie: &'a [Node],
    node: Option<usize>,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for TrieWalk<'a> {
    type Item = &'a [Id];

    fn next(&mut self) -> Option<&'a [Id]> {
        loop {
            let node = self.node?;
            let &b = self.bytes.get(self.pos)?;
            self.pos += 1;
            let children = &self.trie[node].children;
            match children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => {
                    let child = children[i].1 as usize;
                    self.node = Some(child);
                    let here = &self.trie[child].here;
                    if !here.is_empty() {
                        return Some(here);
                    }
                }
                Err(_) => {
                    self.node = None;
                    return None;
                }
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
            Key::ResourcePrefixes(vec!["foundation-model/anthropic."]),
        );
        index.insert(
            1,
            Key::ResourcePrefixes(vec!["foundation-model/", "inference-profile/"]),
        );
        index.insert(2, Key::Actions(vec!["bedrock:InvokeModel"]));
        index.insert(3, Key::Scan);
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
            [0, 1, 2, 3]
        );
        assert_eq!(
            ids("bedrock:Converse", Some("foundation-model/amazon.nova")),
            [1, 3]
        );
        assert_eq!(
            ids("bedrock:InvokeModel", Some("inference-profile/x")),
            [1, 2, 3]
        );
        assert_eq!(ids("bedrock:InvokeModel", None), [2, 3]);
        assert_eq!(ids("s3:GetObject", Some("bucket/x")), [3]);
    }
}
