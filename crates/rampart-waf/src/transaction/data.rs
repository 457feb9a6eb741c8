//! The facts a transaction inspects, stored once with stable item ids so that
//! transformed values can be cached per (item, transformation chain).

use crate::body::multipart::MultipartFlags;

pub(crate) use super::collection::{BaseKeyCache, Collection, SlotCache};

/// One value of a variable, with its key inside its collection.
#[derive(Debug, Clone, Default)]
pub struct Item {
    /// Key (header name, argument name, ...); empty for single values.
    pub key: Vec<u8>,
    /// Value.
    pub value: Vec<u8>,
    /// Identity for the transformation cache; [`UNCACHED`] for values that change.
    pub id: u32,
}

/// Id of values that are never cached.
pub const UNCACHED: u32 = u32::MAX;
/// Bit set on the id of a `*_NAMES` value (the key of the same item).
pub const NAME_BIT: u32 = 1 << 31;

/// Hands out item ids.
#[derive(Debug, Default)]
pub struct Ids(u32);

impl Ids {
    /// A counter whose first id is `used + 1` (ids up to `used` are taken).
    pub fn starting_after(used: u32) -> Self {
        Ids(used)
    }

    /// The highest id handed out so far.
    pub fn used(&self) -> u32 {
        self.0
    }

    /// A new id (ids stop growing rather than wrap: they then share one slot
    /// that is never cached).
    pub fn next(&mut self) -> u32 {
        if self.0 >= (NAME_BIT - 2) {
            return UNCACHED;
        }
        self.0 += 1;
        self.0
    }

    /// A new item.
    pub fn item(&mut self, key: Vec<u8>, value: Vec<u8>) -> Item {
        Item {
            key,
            value,
            id: self.next(),
        }
    }
}

/// Request and response facts plus what body processors extracted.
#[derive(Debug, Default)]
pub struct RequestData {
    pub(crate) method: Option<Item>,
    pub(crate) uri: Option<Item>,
    pub(crate) uri_raw: Option<Item>,
    pub(crate) protocol: Option<Item>,
    pub(crate) filename: Option<Item>,
    pub(crate) basename: Option<Item>,
    pub(crate) query: Option<Item>,
    pub(crate) request_line: Option<Item>,
    pub(crate) args_get: Vec<Item>,
    pub(crate) args_post: Vec<Item>,
    pub(crate) headers: Vec<Item>,
    pub(crate) cookies: Vec<Item>,
    pub(crate) body: Option<Item>,
    pub(crate) body_length: usize,
    /// The request body as inspected (at most `SecRequestBodyLimit` bytes),
    /// kept for FULL_REQUEST when a rule reads it and `body` does not hold
    /// it; empty otherwise.
    pub(crate) raw_body: Vec<u8>,
    pub(crate) reqbody_error: bool,
    pub(crate) reqbody_error_msg: Vec<u8>,
    pub(crate) inbound_data_error: bool,
    pub(crate) files: Vec<Item>,
    pub(crate) files_sizes: Vec<Item>,
    pub(crate) files_combined_size: usize,
    pub(crate) multipart_names: Vec<Item>,
    pub(crate) multipart_filenames: Vec<Item>,
    pub(crate) part_headers: Vec<Item>,
    pub(crate) multipart_flags: MultipartFlags,
    pub(crate) multipart_error: bool,
    /// The body without its uploaded files is longer than
    /// `SecRequestBodyNoFilesLimit`.
    pub(crate) no_files_limit_exceeded: bool,
    pub(crate) xml_root: Option<Item>,
    pub(crate) xml_attrs: Vec<Item>,
    pub(crate) remote_addr: Option<Item>,
    pub(crate) remote_port: u16,
    pub(crate) server_name: Option<Item>,
    pub(crate) unique_id: Option<Item>,
    pub(crate) response_status: Option<Item>,
    pub(crate) response_protocol: Option<Item>,
    pub(crate) response_headers: Vec<Item>,
    pub(crate) response_body: Option<Item>,
}

impl RequestData {
    /// A signature of every item: items are never changed in place but
    /// replaced by new ones with new (increasing) ids, so an unchanged
    /// signature means unchanged facts. Every `Item` field must be listed.
    pub(crate) fn signature(&self) -> (usize, u64) {
        let singles = [
            &self.method,
            &self.uri,
            &self.uri_raw,
            &self.protocol,
            &self.filename,
            &self.basename,
            &self.query,
            &self.request_line,
            &self.body,
            &self.xml_root,
            &self.remote_addr,
            &self.server_name,
            &self.unique_id,
            &self.response_status,
            &self.response_protocol,
            &self.response_body,
        ];
        let lists = [
            &self.args_get,
            &self.args_post,
            &self.headers,
            &self.cookies,
            &self.files,
            &self.files_sizes,
            &self.multipart_names,
            &self.multipart_filenames,
            &self.part_headers,
            &self.xml_attrs,
            &self.response_headers,
        ];
        let ids = singles
            .into_iter()
            .flatten()
            .chain(lists.into_iter().flatten())
            .map(|i| u64::from(i.id));
        let (mut count, mut sum) = (0usize, 0u64);
        for id in ids {
            count += 1;
            sum = sum.wrapping_mul(31).wrapping_add(id);
        }
        (count, sum)
    }

    /// The first request header with this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.key.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.as_slice())
    }
}
