#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mmv_fuzz::targets::raw(data));
