//! The event streams a process holds open: at most so many in all, and so many per key. A slot is
//! given back when its stream ends.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use uuid::Uuid;

/// Why a stream cannot open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    All,
    Key,
}

/// The open streams, in all and per key.
#[derive(Debug)]
pub struct StreamSlots {
    limits: (usize, usize),
    open: Mutex<(usize, HashMap<Uuid, usize>)>,
}

/// One open stream's place; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<StreamSlots>,
    key: Uuid,
}

impl StreamSlots {
    /// At most `in_all` streams, and `per_key` of one key.
    pub fn new(in_all: usize, per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            limits: (in_all, per_key),
            open: Mutex::default(),
        })
    }

    /// A place for a stream of `key`'s, if there is room.
    pub fn take(self: &Arc<Self>, key: Uuid) -> Result<Slot, Full> {
        let mut open = self.open.lock().expect("the slots' lock is never poisoned");
        let (all, per_key) = &mut *open;
        if *all >= self.limits.0 {
            return Err(Full::All);
        }
        let mine = per_key.entry(key).or_default();
        if *mine >= self.limits.1 {
            return Err(Full::Key);
        }
        *mine += 1;
        *all += 1;
        Ok(Slot {
            slots: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .slots
            .open
            .lock()
            .expect("the slots' lock is never poisoned");
        let (all, per_key) = &mut *open;
        *all -= 1;
        if let Some(mine) = per_key.get_mut(&self.key) {
            *mine -= 1;
            if *mine == 0 {
                per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_key_and_freed_on_drop() {
        let slots = StreamSlots::new(3, 2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.take(a).unwrap();
        let _second = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), Full::Key);
        let _third = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), Full::All);
        drop(first);
        assert!(slots.take(a).is_ok());
    }
}
