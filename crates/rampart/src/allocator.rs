//! The process's global allocator: mimalloc, called the way its own C API is
//! meant to be used.
//!
//! Why mimalloc: a request allocates and frees many small buffers across
//! threads, where glibc's arenas spent ~7% of the proxy's CPU
//! (malloc_consolidate, _int_free) in `perf` profiles of bench/run.sh. It is
//! built with `no_thp` (root Cargo.toml): mimalloc otherwise asks for
//! transparent huge pages, and every touched 2 MiB page counts whole in RSS
//! (CRS loaded: 108 MB peak with them, 79 MB without, no CPU cost measured).
//!
//! Why not `mimalloc::MiMalloc`: it sends every allocation through
//! `mi_malloc_aligned`, whose checks and, past 1 KiB, generic path cost ~1,300
//! instructions per proxied request (callgrind, bench/instructions.sh) for an
//! alignment plain `mi_malloc` already gives. Every mimalloc block is at least
//! word-aligned (sizes are rounded up to whole words from a 16-byte-aligned page
//! start), so a layout asking for no more than a word's alignment takes
//! `mi_malloc`; larger alignments (tokio's cache-padded task cells) keep the
//! aligned entry points. That word alignment is how mimalloc's allocator is
//! built rather than a promise of its API (its guarded-page debug mode, which
//! this build never enables, places blocks against a guard page unaligned): the
//! version is pinned (root Cargo.toml) so an upgrade is checked again, debug
//! builds assert every block's alignment, and the test below allocates every
//! size up to a few pages. This is the only `unsafe` in the binary crate.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every `mi_malloc` block has.
const WORD: usize = std::mem::size_of::<usize>();

/// `block`, asserted (in debug builds) to meet `layout`'s alignment.
#[inline]
fn checked(block: *mut u8, layout: Layout) -> *mut u8 {
    debug_assert!(
        (block as usize).is_multiple_of(layout.align()),
        "misaligned block"
    );
    block
}

/// mimalloc, with word-aligned requests on its plain entry points.
pub struct Mimalloc;

// SAFETY: each method forwards to the mimalloc function with the same contract
// (a block of at least `size` bytes at `align`, or null on failure; `mi_free`
// takes any block mimalloc returned). The plain functions are only used where
// their guaranteed alignment (a word) meets the layout's.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        let block: *mut u8 = unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        };
        checked(block, layout)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        let block: *mut u8 = unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        };
        checked(block, layout)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract).
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block
        // keeps `layout`'s alignment by the same rule as `alloc`.
        let block: *mut u8 = unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        };
        checked(block, layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size up to a few pages and every alignment up to 4 KiB comes back
    /// aligned, writable, and intact across a reallocation.
    #[test]
    fn blocks_are_aligned_and_keep_their_contents() {
        let allocator = Mimalloc;
        let mut sizes: Vec<usize> = (1..=300).collect();
        sizes.extend([
            511, 512, 1023, 1024, 1025, 4095, 4096, 4500, 70_000, 300_000,
        ]);
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for &size in &sizes {
                let Ok(layout) = Layout::from_size_align(size, align) else {
                    continue;
                };
                // SAFETY: non-zero size; the block is used within its size and
                // freed with the layout it was made with.
                unsafe {
                    let p = allocator.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    std::ptr::write_bytes(p, 0xa5, size);
                    let grown = allocator.realloc(p, layout, size * 3);
                    assert!(!grown.is_null());
                    assert_eq!(grown as usize % align, 0, "realloc {size} align {align}");
                    assert!((0..size).all(|i| *grown.add(i) == 0xa5));
                    allocator.dealloc(grown, Layout::from_size_align_unchecked(size * 3, align));
                    let zeroed = allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0);
                    assert!((0..size).all(|i| *zeroed.add(i) == 0));
                    allocator.dealloc(zeroed, layout);
                }
            }
        }
    }
}
