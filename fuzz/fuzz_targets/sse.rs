//! SseParser: fed in arbitrary pieces it must say exactly what it says fed whole, agree
//! with a plain reference reading of the SSE format, and honour its limits.
//!
//! Input: `[line limit / 4, event limit / 8, split seed, bytes…]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestra_fuzz::split;
use orchestra_openai_compat::{SseError, SseParser};

/// Events delivered before the first error (or all), the error, and `finish()` (only
/// without error).
type Run = (Vec<String>, Option<SseError>, Option<String>);

fn run(pieces: &[&[u8]], max_line: usize, max_event: usize) -> Run {
    let mut parser = SseParser::new(max_line, max_event);
    let mut events = Vec::new();
    for piece in pieces {
        let pushed = parser.push(piece);
        while let Some(event) = parser.next_event() {
            events.push(event);
        }
        if let Err(error) = pushed {
            return (events, Some(error), None);
        }
    }
    let last = parser.finish();
    assert_eq!(parser.finish(), None, "finish() offered a second event");
    (events, None, last)
}

/// The SSE format read plainly, without limits.
struct Reference {
    /// Events closed by a blank line.
    events: Vec<String>,
    /// Every line that ended was UTF-8 (or a comment).
    complete_ok: bool,
    /// The data of the event still open at the end, the trailing line included.
    unterminated: Option<String>,
    /// The trailing line (without line break) was UTF-8 (or a comment, or empty).
    trailing_ok: bool,
}

fn reference(input: &[u8]) -> Reference {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < input.len() {
        match input[index] {
            b'\n' => {
                lines.push(&input[start..index]);
                start = index + 1;
            }
            b'\r' => {
                lines.push(&input[start..index]);
                if input.get(index + 1) == Some(&b'\n') {
                    index += 1;
                }
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    let trailing = &input[start..];
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    let mut read = |line: &[u8], events: &mut Vec<String>| -> bool {
        if line.is_empty() {
            events.extend(data.take());
            return true;
        }
        if line[0] == b':' {
            return true;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            return false;
        };
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            }
        }
        true
    };
    let mut complete_ok = true;
    for line in lines {
        if !read(line, &mut events) {
            complete_ok = false;
            break;
        }
    }
    let trailing_ok = trailing.is_empty() || read(trailing, &mut events);
    Reference {
        events,
        complete_ok,
        unterminated: data,
        trailing_ok,
    }
}

fuzz_target!(|data: &[u8]| {
    let [line, event, seed, input @ ..] = data else {
        return;
    };
    let max_line = 1 + usize::from(*line) * 4;
    let max_event = 1 + usize::from(*event) * 8;

    let whole = run(&[input], max_line, max_event);
    let pieces = run(&split(*seed, input), max_line, max_event);
    assert_eq!(whole, pieces, "pieces disagree with the whole input");

    let (events, error, last) = whole;
    for event in events.iter().chain(&last) {
        assert!(event.len() <= max_event, "an event over the event limit");
    }
    let expected = reference(input);
    match &error {
        None => {
            assert!(expected.complete_ok, "a non-UTF-8 line was accepted");
            assert_eq!(events, expected.events, "events differ from the reference");
            // An unterminated event over the event limit is dropped, like a broken one.
            let within = |data: &String| data.len() <= max_event;
            if expected.trailing_ok {
                let unterminated = expected.unterminated.filter(within);
                assert_eq!(last, unterminated, "finish() differs from the reference");
            } else {
                assert_eq!(
                    last, None,
                    "finish() offered an event after a non-UTF-8 line"
                );
            }
        }
        Some(SseError::NotUtf8) => {
            assert!(
                !expected.complete_ok,
                "NotUtf8 on input the reference reads"
            );
        }
        Some(_) => {} // A limit: the reference has none.
    }
});
