//! Every transformation on arbitrary bytes (the first byte picks one): never
//! panics, decoders never grow their input, and a few exact invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_waf::transformations::Transform;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else { return };
    let t = Transform::ALL[usize::from(pick) % Transform::ALL.len()];
    let out = t.apply(input);
    if t.never_grows() {
        assert!(out.len() <= input.len(), "{t:?} grew {} -> {}", input.len(), out.len());
    }
    match t {
        Transform::Lowercase => assert!(!out.iter().any(u8::is_ascii_uppercase)),
        Transform::RemoveNulls => assert!(!out.contains(&0)),
        Transform::Length => assert_eq!(&*out, input.len().to_string().as_bytes()),
        Transform::HexEncode => assert_eq!(out.len(), input.len() * 2),
        Transform::Sha1 => assert_eq!(out.len(), 20),
        _ => {}
    }
    // Chains apply step by step.
    let twice = t.apply(&out);
    let _ = twice.len();
});
