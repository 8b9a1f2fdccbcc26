//! A small, bounded Server-Sent Events parser (only what chat streams need: `data:` fields).
//!
//! Bytes go in as they arrive; complete events come out. Lines may end in LF, CRLF or CR
//! (also split across chunks), comment lines (`: OPENROUTER PROCESSING`) are dropped, several
//! `data:` lines join with `\n`, and lines and events are capped so a hostile upstream cannot
//! make us buffer without bound.

use std::collections::VecDeque;

use crate::limits::describe;

/// Why the byte stream is not acceptable SSE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseError {
    /// A line grew past the limit before it ended.
    LineTooLong(usize),
    /// An event's data grew past the limit.
    EventTooLarge(usize),
    /// A line was not UTF-8.
    NotUtf8,
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SseError::LineTooLong(limit) => write!(
                f,
                "an event-stream line grew past the limit of {} without a line break",
                describe(*limit)
            ),
            SseError::EventTooLarge(limit) => write!(
                f,
                "an event-stream event's data grew past the limit of {}",
                describe(*limit)
            ),
            SseError::NotUtf8 => f.write_str("an event-stream line was not UTF-8"),
        }
    }
}

impl std::error::Error for SseError {}

/// Incremental SSE parser.
///
/// What it holds is bounded: the current line (`max_line`), the current event's data
/// (`max_event`), and the complete events of the bytes pushed since they were last taken
/// (no more than those bytes).
#[derive(Debug)]
pub struct SseParser {
    max_line: usize,
    max_event: usize,
    line: Vec<u8>,
    /// The previous chunk ended in CR: a leading LF of the next chunk belongs to it.
    after_cr: bool,
    data: String,
    has_data: bool,
    events: VecDeque<String>,
}

impl SseParser {
    /// A parser that rejects lines longer than `max_line` bytes and events whose data exceeds
    /// `max_event` bytes.
    pub fn new(max_line: usize, max_event: usize) -> Self {
        Self {
            max_line,
            max_event,
            line: Vec::new(),
            after_cr: false,
            data: String::new(),
            has_data: false,
            events: VecDeque::new(),
        }
    }

    /// Feeds bytes; completed events become available through [`next_event`](Self::next_event).
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), SseError> {
        if bytes.is_empty() {
            // Nothing to read, and a CR that ended the last piece still waits for its LF.
            return Ok(());
        }
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(end) = bytes
            .iter()
            .position(|&byte| byte == b'\n' || byte == b'\r')
        {
            self.extend_line(&bytes[..end])?;
            let line = std::mem::take(&mut self.line);
            self.process_line(&line)?;
            let terminator = bytes[end];
            bytes = &bytes[end + 1..];
            if terminator == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.extend_line(bytes)
    }

    /// The next complete event's data, if any.
    pub fn next_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }

    /// At end of input: the data of an event that was not closed by a blank line.
    ///
    /// The SSE spec discards such an event; callers decide whether to trust it.
    pub fn finish(&mut self) -> Option<String> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if self.process_line(&line).is_err() {
                // A broken last line spoils its event: drop it for good.
                self.has_data = false;
                self.data.clear();
                return None;
            }
        }
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        self.has_data.then(|| {
            self.has_data = false;
            std::mem::take(&mut self.data)
        })
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max_line {
            return Err(SseError::LineTooLong(self.max_line));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8]) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                self.has_data = false;
                self.events.push_back(std::mem::take(&mut self.data));
            }
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        // `event:`, `id:` and `retry:` carry nothing chat streams use.
        if field == "data" {
            let added = value.len() + usize::from(self.has_data);
            if self.data.len() + added > self.max_event {
                return Err(SseError::EventTooLarge(self.max_event));
            }
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<String> {
        let mut parser = SseParser::new(1024, 4096);
        let mut events = Vec::new();
        for chunk in input.chunks(piece) {
            parser.push(chunk).unwrap();
            while let Some(event) = parser.next_event() {
                events.push(event);
            }
        }
        events.extend(parser.finish());
        events
    }

    #[test]
    fn handles_comments_crlf_cr_and_multiline_data_split_anywhere() {
        let input = b": OPENROUTER PROCESSING\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\rdata: line1\rdata:line2\r\rdata: [DONE]\n\n";
        for piece in 1..input.len() {
            assert_eq!(
                parse_in_pieces(input, piece),
                ["{\"a\":1}", "line1\nline2", "[DONE]"],
                "piece size {piece}"
            );
        }
    }

    #[test]
    fn unterminated_last_event_is_offered_by_finish() {
        let mut parser = SseParser::new(1024, 4096);
        parser.push(b"data: [DONE]").unwrap();
        assert_eq!(parser.next_event(), None);
        assert_eq!(parser.finish().as_deref(), Some("[DONE]"));
        assert_eq!(parser.finish(), None);
    }

    /// Fuzz finding (target `sse`): an empty read between a CR and its LF made the LF a
    /// second line break, so a blank line ended the event early.
    #[test]
    fn an_empty_read_between_cr_and_lf_is_no_line_break() {
        let mut whole = SseParser::new(1024, 4096);
        whole.push(b"data: x\r\ndata: y\r\n\r\n").unwrap();
        let mut pieces = SseParser::new(1024, 4096);
        for piece in [&b"data: x\r"[..], b"", b"\ndata: y\r\n\r\n"] {
            pieces.push(piece).unwrap();
        }
        assert_eq!(whole.next_event().as_deref(), Some("x\ny"));
        assert_eq!(pieces.next_event().as_deref(), Some("x\ny"));
        assert_eq!(pieces.next_event(), None);
    }

    /// Fuzz finding (target `sse`): a non-UTF-8 last line made the first `finish()` drop
    /// the open event and the second hand it out.
    #[test]
    fn finish_drops_an_event_spoilt_by_its_last_line_for_good() {
        let mut parser = SseParser::new(257, 513);
        parser
            .push(b"data: x\r\ndata: x\r\xff\xff\xff\xffdata:ata:")
            .unwrap();
        assert_eq!(parser.next_event(), None);
        assert_eq!(parser.finish(), None);
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn limits_are_enforced() {
        let mut parser = SseParser::new(8, 12);
        assert_eq!(
            parser.push(b"data: 0123456789"),
            Err(SseError::LineTooLong(8))
        );
        let mut parser = SseParser::new(64, 12);
        parser.push(b"data: 012345\n").unwrap();
        assert_eq!(
            parser.push(b"data: 012345\n"),
            Err(SseError::EventTooLarge(12))
        );
        let mut parser = SseParser::new(64, 64);
        assert_eq!(parser.push(b"data: \xff\n"), Err(SseError::NotUtf8));
    }
}
