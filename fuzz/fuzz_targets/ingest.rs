//! Arbitrary bytes through every `cordon ingest` parser: the first byte picks
//! the format (or auto-detection), the rest is the log. Logs come from
//! machines an agent may control, so no input may panic, and the reader must
//! account for every line (records, skipped or bad, never lost).
#![no_main]

use cordon_ingest::{Format, Options, Outcome, Reader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, log)) = data.split_first() else { return };
    let format = Format::ALL.get(pick as usize % (Format::ALL.len() + 1)).copied();
    let opts = Options { max_line: 4096, ..Options::default() };
    let Ok(mut reader) = Reader::from_bufread(log, "fuzz", format, opts, false) else { return };
    let mut out = Vec::new();
    let mut lines = 0u64;
    while let Some(line) = reader.next(&mut out).expect("reading a byte slice cannot fail") {
        lines += 1;
        if let Outcome::Records(n) = line.outcome {
            assert!(n <= out.len());
        }
        assert!(lines <= log.len() as u64 + 2, "more lines than bytes");
    }
});
