#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shiftmesh_fuzz::announcement(data);
});
