//! Fuzz target: the SSE parser on arbitrary bytes cut at an arbitrary point
//! gives the same events as on the whole input, and stays within its limit.
#![no_main]

use aigw_formats::sse::{SseError, SseParser};
use libfuzzer_sys::fuzz_target;

type Events = Vec<(Option<String>, String)>;

fn parse(chunks: &[&[u8]], max: usize) -> Result<Events, SseError> {
    let mut p = SseParser::with_max_event_size(max);
    let mut out = Vec::new();
    for chunk in chunks {
        p.push(chunk);
        while let Some(e) = p.next_event()? {
            assert!(e.data.len() <= max);
            out.push((e.event.map(str::to_owned), e.data.to_owned()));
        }
        assert!(p.buffered_len() <= max);
    }
    while let Some(e) = p.finish()? {
        out.push((e.event.map(str::to_owned), e.data.to_owned()));
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let max = 8 + usize::from(first) * 4;
    let at = usize::from(first).min(input.len());
    let whole = parse(&[input], max);
    let split = parse(&[&input[..at], &input[at..]], max);
    assert_eq!(whole, split);
});
