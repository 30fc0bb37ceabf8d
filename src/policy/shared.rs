//! One copy of what large policies repeat: a policy of thousands of statements names the same few
//! action lists and ARN heads (`arn:aws:bedrock:*:`) over and over, and holding each once behind an
//! `Arc` halves a compiled set's memory (docs/BENCHMARKS.md, "Memory of a compiled policy").

use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;

use rustc_hash::FxHashSet;

/// The values seen so far while building one policy set. Fx hashing: the values come from the
/// operator's own policy files, and SipHash's flood resistance cost a tenth of compiling a large set.
#[derive(Debug)]
pub(crate) struct Shared<T: ?Sized>(FxHashSet<Arc<T>>);

impl<T: ?Sized> Default for Shared<T> {
    fn default() -> Self {
        Self(FxHashSet::default())
    }
}

impl<T: ?Sized + Hash + Eq> Shared<T> {
    /// The copy already held that equals `value`, or `value` itself, now held.
    pub(crate) fn one_copy<V: Borrow<T> + Into<Arc<T>>>(&mut self, value: V) -> Arc<T> {
        if let Some(known) = self.0.get(value.borrow()) {
            return Arc::clone(known);
        }
        let value: Arc<T> = value.into();
        self.0.insert(Arc::clone(&value));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_come_back_as_one_copy() {
        let mut lists: Shared<[String]> = Shared::default();
        let a = lists.one_copy(vec!["x".to_owned(), "y".to_owned()]);
        let b = lists.one_copy(vec!["x".to_owned(), "y".to_owned()]);
        let c = lists.one_copy(vec!["x".to_owned()]);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(&*c, ["x".to_owned()]);
    }
}
