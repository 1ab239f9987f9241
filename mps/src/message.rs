//! Messages from the collector: collection statistics and finalization.

use core::ffi::CStr;
use core::fmt;
use core::ptr::{self, NonNull};

use mps_sys::*;

use crate::arena::Arena;
use crate::format::Format;
use crate::thread::{pin_until_here, Handle, Scope};

/// A kind of message the arena can post, for
/// [`Arena::enable_messages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// [`Message::Finalization`]: a registered object became finalizable.
    Finalization,
    /// [`Message::Gc`]: a collection finished.
    Gc,
    /// [`Message::GcStart`]: a collection started.
    GcStart,
}

impl MessageType {
    fn mps_type(self) -> mps_message_type_t {
        match self {
            MessageType::Finalization => mps_message_type_finalization(),
            MessageType::Gc => mps_message_type_gc(),
            MessageType::GcStart => mps_message_type_gc_start(),
        }
    }
}

/// A message from the collector, as [`Arena::messages`] yields it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Message<'a> {
    /// A collection finished (`mps_message_type_gc`).
    Gc {
        /// Bytes of the condemned set that survived.
        live: usize,
        /// Bytes condemned.
        condemned: usize,
        /// Bytes in collected pools that were not condemned.
        not_condemned: usize,
        /// `mps_clock()` when the message was posted.
        clock: u64,
    },
    /// A collection started (`mps_message_type_gc_start`).
    GcStart {
        /// Why, in English.
        why: String,
        /// `mps_clock()` when the message was posted.
        clock: u64,
    },
    /// An object registered with [`Handle::finalize`] became finalizable
    /// (`mps_message_type_finalization`).
    Finalization(Finalization<'a>),
}

/// A finalization message: its object is kept alive (and its reference
/// current) until the message is dropped, which discards it. Get the object
/// with [`object`](Self::object); after the drop it dies unless something
/// else refers to it (a handle or root, for example).
pub struct Finalization<'a> {
    raw: NonNull<mps_message_s>,
    arena: &'a Arena,
}

impl Finalization<'_> {
    /// The finalized object, in a new handle of `scope`; `None` if the
    /// object is not of format `F`.
    ///
    /// # Panics
    ///
    /// If `scope` belongs to another arena.
    pub fn object<'s, F: Format>(&self, scope: &mut Scope<'s>) -> Option<Handle<'s, F>> {
        let arena = self.arena.as_raw();
        assert!(
            scope.thread().arena_raw() == arena,
            "mps: Finalization::object: the scope belongs to another arena"
        );
        let mut addr: mps_addr_t = ptr::null_mut();
        // SAFETY: the arena and the (not yet discarded) message are live.
        unsafe { mps_message_finalization_ref(&mut addr, arena, self.raw.as_ptr()) };
        let addr = NonNull::new(addr.cast::<u8>())?;
        let mut fmt: mps_fmt_t = ptr::null_mut();
        // SAFETY: the arena is live; `addr` is only looked up.
        let found = unsafe { mps_addr_fmt(&mut fmt, arena, addr.as_ptr().cast()) } != 0;
        if !found || !self.arena.format_is::<F>(fmt) {
            return None;
        }
        // SAFETY: the message keeps the object alive; its format is F (the
        // arena's registry says so); the local `addr` pins it until it is in
        // the handle's slot.
        let handle = unsafe { scope.handle_from_raw(addr) };
        pin_until_here(addr.as_ptr());
        Some(handle)
    }
}

impl Drop for Finalization<'_> {
    fn drop(&mut self) {
        // SAFETY: the message was got from this arena and not yet discarded.
        unsafe { mps_message_discard(self.arena.as_raw(), self.raw.as_ptr()) };
    }
}

impl fmt::Debug for Finalization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Finalization({:p})", self.raw)
    }
}

// SAFETY: a message handle may be read and discarded from any thread (the
// MPS takes the arena lock); `object` checks the scope's arena.
unsafe impl Send for Finalization<'_> {}

/// An iterator over the queued messages of an arena, from
/// [`Arena::messages`]; each is taken off the queue as it is yielded.
#[derive(Debug)]
pub struct Messages<'a> {
    arena: &'a Arena,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Message<'a>;

    fn next(&mut self) -> Option<Message<'a>> {
        let arena = self.arena.as_raw();
        loop {
            let mut ty: mps_message_type_t = 0;
            // SAFETY: the arena is live; `ty` is a valid out parameter.
            if unsafe { mps_message_queue_type(&mut ty, arena) } == 0 {
                return None;
            }
            let mut raw: mps_message_t = ptr::null_mut();
            // SAFETY: as above. Another thread may have taken the message
            // meanwhile: then `get` says no and the loop asks again.
            if unsafe { mps_message_get(&mut raw, arena, ty) } == 0 {
                continue;
            }
            let Some(message) = NonNull::new(raw) else {
                continue;
            };
            let m = message.as_ptr();
            if ty == mps_message_type_finalization() {
                return Some(Message::Finalization(Finalization {
                    raw: message,
                    arena: self.arena,
                }));
            }
            // SAFETY: `m` was just got from this arena and is discarded once
            // its contents are copied out.
            let out = unsafe {
                if ty == mps_message_type_gc() {
                    Some(Message::Gc {
                        live: mps_message_gc_live_size(arena, m),
                        condemned: mps_message_gc_condemned_size(arena, m),
                        not_condemned: mps_message_gc_not_condemned_size(arena, m),
                        clock: mps_message_clock(arena, m) as u64,
                    })
                } else if ty == mps_message_type_gc_start() {
                    let why = mps_message_gc_start_why(arena, m);
                    let why = if why.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(why).to_string_lossy().into_owned()
                    };
                    Some(Message::GcStart {
                        why,
                        clock: mps_message_clock(arena, m) as u64,
                    })
                } else {
                    None
                }
            };
            // SAFETY: as above.
            unsafe { mps_message_discard(arena, m) };
            if out.is_some() {
                return out;
            }
        }
    }
}

impl Arena {
    /// Starts posting messages of type `ty` (`mps_message_type_enable`).
    /// Nothing is posted until a type is enabled.
    pub fn enable_messages(&self, ty: MessageType) {
        // SAFETY: the arena is live.
        unsafe { mps_message_type_enable(self.as_raw(), ty.mps_type()) }
    }

    /// Stops posting messages of type `ty` and drops the queued ones
    /// (`mps_message_type_disable`).
    pub fn disable_messages(&self, ty: MessageType) {
        // SAFETY: the arena is live.
        unsafe { mps_message_type_disable(self.as_raw(), ty.mps_type()) }
    }

    /// Is a message waiting (`mps_message_poll`)?
    pub fn has_messages(&self) -> bool {
        // SAFETY: the arena is live.
        unsafe { mps_message_poll(self.as_raw()) != 0 }
    }

    /// The queued messages, oldest first, each taken off the queue as it is
    /// yielded.
    pub fn messages(&self) -> Messages<'_> {
        Messages { arena: self }
    }
}
