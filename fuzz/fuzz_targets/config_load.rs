//! Any bytes as a configuration file: loading never panics, and every refusal
//! names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = std::path::Path::new("/fuzz/rampart.yaml");
    if let Err(errors) = rampart_config::load_str(path, text) {
        assert!(!errors.0.is_empty());
        for error in errors.0 {
            assert_eq!(error.file, path);
        }
    }
});
