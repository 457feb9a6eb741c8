//! The XML body processor: never panics and never expands entities.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_waf::body::xml;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = xml::parse(data) {
        assert!(values.text.len() <= data.len());
        let attrs: usize = values.attributes.iter().map(|(_, v)| v.len()).sum();
        assert!(attrs <= data.len());
    }
});
