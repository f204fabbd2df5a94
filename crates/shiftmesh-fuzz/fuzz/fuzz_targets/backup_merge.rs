#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = shiftmesh_fuzz::backup_merge(data);
});
