//! Follows the framing of the responses hyper writes on one connection, so that the listener
//! can tell hyper's automatic error responses from the application's.
//!
//! When hyper cannot parse a request (`Content-Length: abc`, a 70 KB URI, too many headers) it
//! writes a bare `400`/`414`/`431` head with `content-length: 0` itself, without calling the
//! service. To give those API.md's JSON body, [`crate::io::ConnIo`] rewrites them on their
//! way out, and must never mistake a piece of a real response for one.
//!
//! The trade-off chosen: no guessing from the bytes. The service records every request it
//! is handed (and whether it was a `HEAD`); this tracker follows our own, well-formed output
//! message by message (head, then a `Content-Length`, chunked or empty body), so it knows
//! exactly where each response begins. A response head that begins when every dispatched
//! request already has its final response can only be hyper's own: that one is rewritten.
//! A response body that happens to contain `HTTP/1.1 400 ...` is never touched, since body
//! bytes are counted, not read. If the output ever stops making sense (a head over 64 KB,
//! a malformed chunk size), the tracker gives up and passes the rest of the connection
//! through unchanged: the cost is a bare error, never a corrupted response.

/// Longest response head the tracker accumulates before giving up.
const MAX_HEAD: usize = 64 * 1024;

/// Where the output stream of one connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Between messages: the next byte starts a response head.
    Boundary,
    /// Inside one of the application's response heads (bytes so far).
    Head(Vec<u8>),
    /// Inside a body with this many bytes left.
    Fixed(u64),
    /// Inside a chunked body.
    Chunked(Chunk),
    /// Everything from here on is body (close-delimited, upgraded, or the tracker gave up).
    Rest,
}

/// Position inside a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Reading a chunk-size line (value so far; in an extension after `;`).
    Size {
        size: u64,
        ext: bool,
    },
    SizeLf {
        size: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// After the last chunk: at the start of a trailer line (or the final CRLF).
    TrailerStart,
    TrailerLine,
    FinalLf,
}

/// What [`Out::advance`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Advance {
    pub consumed: usize,
    /// A final (non-1xx) response head ended: it answered the oldest dispatched request.
    pub answered: bool,
}

impl Out {
    /// Consumes bytes of the application's output, stopping right after a message ends
    /// (so the caller can decide about the next head). `is_head` says whether the request
    /// the current head answers was a `HEAD` (its response has no body). Must not be called
    /// at [`Out::Boundary`] unless a request is waiting for its response.
    pub fn advance(&mut self, data: &[u8], is_head: bool) -> Advance {
        let mut i = 0;
        let mut answered = false;
        while i < data.len() {
            match self {
                Out::Rest => {
                    return Advance {
                        consumed: data.len(),
                        answered,
                    }
                }
                Out::Boundary => {
                    if i > 0 {
                        break;
                    }
                    *self = Out::Head(Vec::new());
                }
                Out::Head(buf) => {
                    // Only the head is copied (the body that follows it in the same write is
                    // not); its end may straddle writes.
                    let rest = &data[i..];
                    match head_end(buf, rest).filter(|e| buf.len() + e <= MAX_HEAD + 1) {
                        Some(e) => {
                            buf.extend_from_slice(&rest[..e]);
                            i += e;
                            let head = std::mem::take(buf);
                            let (next, is_final) = framing(&head, is_head);
                            answered |= is_final;
                            *self = next;
                            if *self == Out::Boundary {
                                break;
                            }
                        }
                        None => {
                            let take = rest.len().min(MAX_HEAD + 1 - buf.len().min(MAX_HEAD));
                            buf.extend_from_slice(&rest[..take]);
                            i += take;
                            if buf.len() > MAX_HEAD {
                                *self = Out::Rest;
                            }
                        }
                    }
                }
                Out::Fixed(left) => {
                    let n = (*left).min((data.len() - i) as u64);
                    *left -= n;
                    i += n as usize;
                    if *left == 0 {
                        *self = Out::Boundary;
                        break;
                    }
                }
                Out::Chunked(state) => {
                    if let Chunk::Data(left) = state {
                        let n = (*left).min((data.len() - i) as u64);
                        *left -= n;
                        i += n as usize;
                        if *left == 0 {
                            *state = Chunk::DataCr;
                        }
                        continue;
                    }
                    let b = data[i];
                    i += 1;
                    match step(*state, b) {
                        Some(Some(next)) => *state = next,
                        Some(None) => {
                            *self = Out::Boundary;
                            break;
                        }
                        None => *self = Out::Rest,
                    }
                }
            }
        }
        Advance {
            consumed: i,
            answered,
        }
    }
}

/// One byte of chunked framing: the next state, `Some(None)` when the body ended, `None`
/// when the bytes are not chunked framing.
fn step(state: Chunk, b: u8) -> Option<Option<Chunk>> {
    let next = match (state, b) {
        (Chunk::Size { size, ext: false }, b) if b.is_ascii_hexdigit() => Chunk::Size {
            size: size
                .checked_mul(16)?
                .checked_add(u64::from((b as char).to_digit(16)?))?,
            ext: false,
        },
        (Chunk::Size { size, .. }, b';') => Chunk::Size { size, ext: true },
        (Chunk::Size { size, .. }, b'\r') => Chunk::SizeLf { size },
        (Chunk::Size { size, ext: true }, _) => Chunk::Size { size, ext: true },
        (Chunk::SizeLf { size: 0 }, b'\n') => Chunk::TrailerStart,
        (Chunk::SizeLf { size }, b'\n') => Chunk::Data(size),
        (Chunk::DataCr, b'\r') => Chunk::DataLf,
        (Chunk::DataLf, b'\n') => Chunk::Size {
            size: 0,
            ext: false,
        },
        (Chunk::TrailerStart, b'\r') => Chunk::FinalLf,
        (Chunk::TrailerStart | Chunk::TrailerLine, b'\n') => Chunk::TrailerStart,
        (Chunk::TrailerStart | Chunk::TrailerLine, _) => Chunk::TrailerLine,
        (Chunk::FinalLf, b'\n') => return Some(None),
        _ => return None,
    };
    Some(Some(next))
}

/// The state after a complete response head, and whether it was a final (non-1xx) one.
fn framing(head: &[u8], is_head: bool) -> (Out, bool) {
    let Some(status) = status_of(head) else {
        return (Out::Rest, true);
    };
    match status {
        101 => return (Out::Rest, true),
        100..=199 => return (Out::Boundary, false),
        _ => {}
    }
    if is_head || status == 204 || status == 304 {
        return (Out::Boundary, true);
    }
    let text = String::from_utf8_lossy(head);
    let mut length = None;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return (
                Out::Chunked(Chunk::Size {
                    size: 0,
                    ext: false,
                }),
                true,
            );
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<u64>().ok();
        }
    }
    match length {
        Some(0) => (Out::Boundary, true),
        Some(n) => (Out::Fixed(n), true),
        None => (Out::Rest, true),
    }
}

/// The status code of a response head (`HTTP/1.1 404 Not Found`).
pub fn status_of(head: &[u8]) -> Option<u16> {
    let code = head.strip_prefix(b"HTTP/1.")?.get(2..5)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where in `rest` a head whose first bytes are `head` ends (just after its blank line).
fn head_end(head: &[u8], rest: &[u8]) -> Option<usize> {
    // A blank line begun in `head`'s last bytes and finished in `rest`.
    let keep = head.len().min(3);
    let mut edge = [0u8; 6];
    let from_rest = rest.len().min(3);
    edge[..keep].copy_from_slice(&head[head.len() - keep..]);
    edge[keep..keep + from_rest].copy_from_slice(&rest[..from_rest]);
    match find(&edge[..keep + from_rest], b"\r\n\r\n") {
        Some(p) => Some(p + 4 - keep),
        None => find(rest, b"\r\n\r\n").map(|p| p + 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `data` in pieces of `step` bytes, as partial writes would, across messages.
    fn boundaries(data: &[u8], piece: usize, heads: &[bool]) -> Vec<usize> {
        let mut out = Out::Boundary;
        let mut at = 0;
        let mut answered = 0;
        let mut ends = vec![];
        while at < data.len() {
            let end = (at + piece).min(data.len());
            let adv = out.advance(
                &data[at..end],
                heads.get(answered).copied().unwrap_or(false),
            );
            assert!(adv.consumed > 0 || out == Out::Boundary);
            if adv.answered {
                answered += 1;
            }
            at += adv.consumed;
            if out == Out::Boundary {
                ends.push(at);
            }
        }
        ends
    }

    #[test]
    fn message_ends_are_found_whatever_the_write_sizes() {
        // GIVEN a fixed-length response whose body looks like an error head, a HEAD answer
        // with a length but no body, a 100 Continue and a chunked response with a trailer
        let body = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nxxxxxxxxxxxxxx";
        let a = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let a = a.as_bytes();
        let b = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
        let c = b"HTTP/1.1 100 Continue\r\n\r\n";
        let d = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1A;x=y\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nt: v\r\n\r\n";
        let all = [a, &b[..], &c[..], &d[..]].concat();
        let expect = vec![
            a.len(),
            a.len() + b.len(),
            a.len() + b.len() + c.len(),
            all.len(),
        ];
        // WHEN it is fed in pieces of every size THEN each message ends where it really ends
        for piece in 1..all.len() {
            assert_eq!(
                boundaries(&all, piece, &[false, true, false]),
                expect,
                "piece {piece}"
            );
        }
    }

    #[test]
    fn a_head_and_a_large_body_in_one_write_end_where_the_body_ends() {
        // GIVEN a head and a 200 KB body handed over in one write (hyper packs them so)
        let body = vec![b'x'; 200_000];
        let mut data =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        data.extend_from_slice(&body);
        let mut out = Out::Boundary;
        // WHEN fed THEN the whole message is consumed and the next byte starts a head
        let adv = out.advance(&data, false);
        assert_eq!(adv.consumed, data.len());
        assert!(adv.answered);
        assert_eq!(out, Out::Boundary);
    }

    #[test]
    fn output_that_makes_no_sense_is_passed_through() {
        // GIVEN a chunked body with a bad size line WHEN fed THEN the rest is plain body
        let mut out = Out::Boundary;
        let data =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nHTTP/1.1 400 x\r\n\r\n";
        let adv = out.advance(data, false);
        assert_eq!(adv.consumed, data.len());
        assert_eq!(out, Out::Rest);
    }

    #[test]
    fn status_codes_are_read_from_heads() {
        assert_eq!(
            status_of(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            Some(431)
        );
        assert_eq!(status_of(b"HTTP/1.0 400 Bad Request\r\n"), Some(400));
        assert_eq!(status_of(b"garbage"), None);
    }
}
