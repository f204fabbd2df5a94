#![no_main]

libfuzzer_sys::fuzz_target!(
    init: shiftmesh_fuzz::init(),
    |data: &[u8]| {
        let _ = shiftmesh_fuzz::backup_merge(data);
    }
);
