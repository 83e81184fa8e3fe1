//! Network telemetry into [`NetRecord`]s: one streaming parser per format, a format guess from the
//! first lines, gzip recognised by its magic bytes.
//!
//! Formats: netfilter `LOG` lines (iptables/nftables, as syslog lines or journald `-o export` /
//! `-o json`), `conntrack -E` events, Zeek `conn.log` (TSV and JSON), Suricata `eve.json` (flow,
//! netflow, alert, dns), AWS VPC Flow Logs (versions 2 to 5, with or without the header line S3
//! files carry) and Cordon's own sandbox records (JSON lines of `NetRecord`).
//!
//! Every byte is hostile: a line longer than [`Options::max_line`] is reported and skipped, a line
//! that does not parse is reported with its number and skipped, and reading goes on. Memory stays
//! bounded: one line (at most `max_line` bytes) and the parser's small state.
//!
//! ```no_run
//! use cordon_ingest::{Options, Reader, Outcome};
//! let file = std::fs::File::open("conn.log.gz").unwrap();
//! let mut reader = Reader::new(file, "conn.log.gz", None, Options::default()).unwrap();
//! let mut records = Vec::new();
//! while let Some(line) = reader.next(&mut records).unwrap() {
//!     if let Outcome::Bad(msg) = &line.outcome { eprintln!("conn.log.gz:{}: {msg}", line.no) }
//! }
//! ```

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};

use cordon_core::NetRecord;

mod conntrack;
mod detect;
mod netfilter;
mod sandbox;
mod suricata;
mod time;
mod vpc;
mod zeek;

pub use detect::detect;

/// The formats `cordon ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Kernel netfilter `LOG`/`log` lines (iptables, nftables) in a syslog file.
    Netfilter,
    /// `journalctl -o export` of kernel netfilter messages.
    JournalExport,
    /// `journalctl -o json` of kernel netfilter messages.
    JournalJson,
    /// `conntrack -E` event lines (with or without `-o timestamp`).
    Conntrack,
    /// Zeek `conn.log`, tab-separated with its `#fields` header.
    ZeekTsv,
    /// Zeek `conn.log` as JSON lines.
    ZeekJson,
    /// Suricata `eve.json`.
    Suricata,
    /// AWS VPC Flow Logs (v2 default format, or any version with its header line).
    VpcFlow,
    /// Cordon sandbox records: JSON lines of `NetRecord`.
    Sandbox,
}

impl Format {
    pub const ALL: [Format; 9] = [
        Format::Netfilter,
        Format::JournalExport,
        Format::JournalJson,
        Format::Conntrack,
        Format::ZeekTsv,
        Format::ZeekJson,
        Format::Suricata,
        Format::VpcFlow,
        Format::Sandbox,
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Netfilter => "netfilter",
            Format::JournalExport => "journal-export",
            Format::JournalJson => "journal-json",
            Format::Conntrack => "conntrack",
            Format::ZeekTsv => "zeek",
            Format::ZeekJson => "zeek-json",
            Format::Suricata => "suricata",
            Format::VpcFlow => "vpcflow",
            Format::Sandbox => "sandbox",
        }
    }

    /// From a `--format` name (also `iptables`, `nftables`, `eve`, `conn`, `vpc`).
    pub fn from_name(s: &str) -> Option<Format> {
        Some(match s {
            "netfilter" | "iptables" | "nftables" | "syslog" => Format::Netfilter,
            "journal-export" | "journal" => Format::JournalExport,
            "journal-json" => Format::JournalJson,
            "conntrack" => Format::Conntrack,
            "zeek" | "zeek-tsv" | "conn" => Format::ZeekTsv,
            "zeek-json" => Format::ZeekJson,
            "suricata" | "eve" => Format::Suricata,
            "vpcflow" | "vpc" | "aws-vpc" => Format::VpcFlow,
            "sandbox" | "cordon" => Format::Sandbox,
            _ => return None,
        })
    }

    fn parser(self) -> Box<dyn Parse + Send> {
        match self {
            Format::Netfilter => Box::new(netfilter::Syslog),
            Format::JournalExport => Box::new(netfilter::JournalExport::default()),
            Format::JournalJson => Box::new(netfilter::JournalJson),
            Format::Conntrack => Box::new(conntrack::Conntrack),
            Format::ZeekTsv => Box::new(zeek::Tsv::default()),
            Format::ZeekJson => Box::new(zeek::Json),
            Format::Suricata => Box::new(suricata::Eve),
            Format::VpcFlow => Box::new(vpc::Vpc::default()),
            Format::Sandbox => Box::new(sandbox::Sandbox),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How records are completed where the log leaves something out.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host` of records whose format names none (Zeek, conntrack, sandbox records without one).
    pub default_host: Option<String>,
    /// Now, Unix µs: the year of BSD syslog times (`Mar  1 10:00:00`) is the one that puts them
    /// at or before this (plus a day).
    pub now_us: i64,
    /// Lines longer than this are reported and skipped.
    pub max_line: usize,
    /// Stamp records whose line carries no time (`conntrack -E` without `-o timestamp`) with the
    /// time they were read; otherwise such lines are errors.
    pub arrival_time: bool,
}

/// 64 KiB.
pub const MAX_LINE: usize = 64 * 1024;

impl Default for Options {
    fn default() -> Self {
        Options {
            default_host: None,
            now_us: now_us(),
            max_line: MAX_LINE,
            arrival_time: true,
        }
    }
}

/// The wall clock in Unix µs.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What became of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// This many records were appended (journald export entries end at a blank line, so the
    /// record of an entry comes with the line that ends it).
    Records(usize),
    /// Nothing to record: a header, a comment, a blank line, an event type that is not network
    /// traffic, a VPC `NODATA` record, a line inside a journald entry.
    Skipped,
    /// Not a valid line of the format; what is wrong.
    Bad(String),
}

/// One line read, with its 1-based number and its bytes (without the line end).
#[derive(Debug)]
pub struct Line<'a> {
    pub no: u64,
    pub raw: &'a [u8],
    pub outcome: Outcome,
}

/// The context a parser fills records from.
pub(crate) struct Ctx<'a> {
    pub opts: &'a Options,
    pub origin: &'a str,
    pub line: u64,
}

impl Ctx<'_> {
    /// A record with what every format shares filled in.
    pub(crate) fn record(&self, source: &str, kind: &str, ts_us: i64) -> NetRecord {
        NetRecord {
            source: source.to_owned(),
            kind: kind.to_owned(),
            ts_us,
            host: self.opts.default_host.clone(),
            origin: Some(self.origin.to_owned()),
            line: Some(self.line),
            ..NetRecord::default()
        }
    }
}

/// One format's parser: fed every line in order.
pub(crate) trait Parse {
    /// Append the line's records to `out`; `Ok(false)`: nothing to record on this line.
    fn line(&mut self, line: &[u8], ctx: &Ctx, out: &mut Vec<NetRecord>) -> Result<bool, String>;
    /// At the end of the input (a journald entry without a closing blank line).
    fn finish(&mut self, _ctx: &Ctx, _out: &mut Vec<NetRecord>) -> Result<bool, String> {
        Ok(false)
    }
}

/// Reads lines of at most `max` bytes (longer ones are cut and flagged), `\n` or `\r\n` ended.
struct Lines<R> {
    inner: R,
    buf: Vec<u8>,
    no: u64,
    max: usize,
}

impl<R: BufRead> Lines<R> {
    /// The next line into `self.buf`; `Some(too_long)`, `None` at the end.
    fn next(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            let room = self.max.saturating_sub(self.buf.len());
            if chunk.len() > room {
                too_long = true;
                self.buf.extend_from_slice(&chunk[..room]);
            } else {
                self.buf.extend_from_slice(chunk);
            }
            self.inner.consume(used);
            if done {
                break;
            }
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        self.no += 1;
        Ok(Some(too_long))
    }
}

/// A stream of one input's lines through its format's parser.
pub struct Reader<R = Box<dyn BufRead + Send>> {
    lines: Lines<R>,
    parser: Box<dyn Parse + Send>,
    format: Format,
    origin: String,
    opts: Options,
    /// Lines read to guess the format, replayed first: (number, bytes, too long).
    pending: VecDeque<(u64, Vec<u8>, bool)>,
    current: Vec<u8>,
    finished: bool,
    gzip: bool,
}

/// How many lines the format guess looks at.
const DETECT_LINES: usize = 32;

impl Reader<Box<dyn BufRead + Send>> {
    /// Read `input` (plain or gzip, told by its magic bytes), named `origin` in records and
    /// errors, in `format` or the one its first lines show.
    pub fn new(
        input: impl Read + Send + 'static,
        origin: &str,
        format: Option<Format>,
        opts: Options,
    ) -> io::Result<Self> {
        let mut plain = BufReader::with_capacity(256 * 1024, input);
        let gzip = plain.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let inner: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                flate2::bufread::MultiGzDecoder::new(plain),
            ))
        } else {
            Box::new(plain)
        };
        Reader::from_bufread(inner, origin, format, opts, gzip)
    }
}

impl<R: BufRead> Reader<R> {
    /// As [`Reader::new`] over a reader that is already buffered and decompressed.
    pub fn from_bufread(
        inner: R,
        origin: &str,
        format: Option<Format>,
        opts: Options,
        gzip: bool,
    ) -> io::Result<Self> {
        let mut lines = Lines {
            inner,
            buf: Vec::with_capacity(1024),
            no: 0,
            max: opts.max_line,
        };
        let mut pending = VecDeque::new();
        let format = match format {
            Some(f) => f,
            None => {
                while pending.len() < DETECT_LINES {
                    match lines.next()? {
                        Some(too_long) => {
                            pending.push_back((lines.no, lines.buf.clone(), too_long))
                        }
                        None => break,
                    }
                }
                let sample: Vec<&[u8]> = pending
                    .iter()
                    .filter(|l| !l.2)
                    .map(|l| l.1.as_slice())
                    .collect();
                match detect(&sample) {
                    Some(f) => f,
                    None if sample.iter().all(|l| l.iter().all(u8::is_ascii_whitespace)) => Format::Sandbox,
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{origin}: cannot tell the format from its first lines; name it with --format"),
                        ))
                    }
                }
            }
        };
        Ok(Reader {
            lines,
            parser: format.parser(),
            format,
            origin: origin.to_owned(),
            opts,
            pending,
            current: Vec::new(),
            finished: false,
            gzip,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether the input was gzip.
    pub fn gzip(&self) -> bool {
        self.gzip
    }

    /// The next line: its records are appended to `out`. `None` at the end of the input.
    pub fn next(&mut self, out: &mut Vec<NetRecord>) -> io::Result<Option<Line<'_>>> {
        let (no, too_long, from_pending) = match self.pending.pop_front() {
            Some((no, bytes, too_long)) => {
                self.current = bytes;
                (no, too_long, true)
            }
            None => match self.lines.next()? {
                Some(too_long) => (self.lines.no, too_long, false),
                None => {
                    if self.finished {
                        return Ok(None);
                    }
                    self.finished = true;
                    let ctx = Ctx {
                        opts: &self.opts,
                        origin: &self.origin,
                        line: self.lines.no + 1,
                    };
                    let before = out.len();
                    return Ok(match self.parser.finish(&ctx, out) {
                        Ok(true) => Some(Line {
                            no: self.lines.no,
                            raw: &[],
                            outcome: Outcome::Records(out.len() - before),
                        }),
                        Ok(false) => None,
                        Err(msg) => Some(Line {
                            no: self.lines.no,
                            raw: &[],
                            outcome: Outcome::Bad(msg),
                        }),
                    });
                }
            },
        };
        let raw: &[u8] = if from_pending {
            &self.current
        } else {
            &self.lines.buf
        };
        let outcome = if too_long {
            Outcome::Bad(format!(
                "line longer than {} bytes, skipped",
                self.opts.max_line
            ))
        } else {
            let ctx = Ctx {
                opts: &self.opts,
                origin: &self.origin,
                line: no,
            };
            let before = out.len();
            match self.parser.line(raw, &ctx, out) {
                Ok(true) => Outcome::Records(out.len() - before),
                Ok(false) => Outcome::Skipped,
                Err(msg) => {
                    out.truncate(before);
                    Outcome::Bad(msg)
                }
            }
        };
        Ok(Some(Line { no, raw, outcome }))
    }
}

/// Counts over one or more inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub records: u64,
    pub skipped: u64,
    pub bad: u64,
}

impl Summary {
    pub fn add(&mut self, outcome: &Outcome) {
        self.lines += 1;
        match outcome {
            Outcome::Records(n) => self.records += *n as u64,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Bad(_) => self.bad += 1,
        }
    }
}

// ---- helpers shared by the parsers -------------------------------------------------------------

/// An IP address field, checked (IPv4 or IPv6, an IPv6 zone allowed).
pub(crate) fn ip(b: &[u8], what: &str) -> Result<String, String> {
    let s = std::str::from_utf8(b).map_err(|_| format!("{what} is not an IP address"))?;
    let bare = s.split_once('%').map_or(s, |(a, _)| a);
    if bare.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("{what} {:?} is not an IP address", clip(s)));
    }
    Ok(s.to_owned())
}

/// A port field.
pub(crate) fn port(b: &[u8], what: &str) -> Result<u16, String> {
    time::num(b)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| format!("{what} {:?} is not a port", clip_bytes(b)))
}

/// A counter field.
pub(crate) fn count(b: &[u8], what: &str) -> Result<u64, String> {
    time::num(b).ok_or_else(|| format!("{what} {:?} is not a count", clip_bytes(b)))
}

/// At most 40 characters of a value, for an error message.
pub(crate) fn clip(s: &str) -> String {
    let mut end = s.len().min(40);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}…", &s[..end])
    } else {
        s.to_owned()
    }
}

pub(crate) fn clip_bytes(b: &[u8]) -> String {
    clip(&String::from_utf8_lossy(&b[..b.len().min(64)]))
}

/// IANA protocol numbers to the names the other formats use.
pub(crate) fn proto_name(n: u64) -> String {
    match n {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// Lower-cased protocol name (`TCP` -> `tcp`, `ICMPv6` -> `ipv6-icmp`, a number -> its name).
pub(crate) fn proto_text(b: &[u8]) -> Result<String, String> {
    if let Some(n) = time::num(b) {
        return Ok(proto_name(n));
    }
    if b.is_empty() || b.len() > 16 || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
        return Err(format!("protocol {:?} is not a protocol", clip_bytes(b)));
    }
    let lower = String::from_utf8_lossy(b).to_ascii_lowercase();
    Ok(if lower == "icmpv6" {
        "ipv6-icmp".into()
    } else {
        lower
    })
}

#[cfg(test)]
mod tests;
