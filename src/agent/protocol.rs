//! The agent's wire format: one request line, one response line, then the
//! connection closes.
//!
//! ```text
//! lookup <header-hash>                         → key <file-key> | none
//! store <vault-id> <header-hash> <ttl-ms> <file-key> → ok
//! replace <vault-id> <header-hash> <file-key>  → ok   (keeps the expiry)
//! forget                                       → ok
//! stop                                         → ok
//! status                                       → ok <vaults held> <pid>
//! (anything refused)                           → err <reason>
//! ```
//!
//! Hashes and keys are lowercase hex. What must stay true: a line is at most
//! [`MAX_LINE`] bytes; every buffer that holds a file key (the line, the
//! parsed key) is zeroized when dropped; vault ids are plain tokens, so no
//! field can contain a space or a newline.

use std::io::{Read, Write};
use std::time::Duration;

use zeroize::Zeroizing;

/// The bytes of an age file key.
pub const FILE_KEY_LEN: usize = 16;

/// An age file key, zeroized on drop.
pub type KeyBytes = Zeroizing<[u8; FILE_KEY_LEN]>;

/// SHA-256 of an age header: which exact file a key opens.
pub type HeaderHash = [u8; 32];

/// The longest line either side reads.
pub(super) const MAX_LINE: usize = 512;

/// What a client asks.
pub(super) enum Request {
    /// The file key for the vault whose header hashes to this.
    Lookup(HeaderHash),
    /// Hold a key after an unlock, for `ttl` from now.
    Store {
        /// The vault's id (its payload's `vault_id`).
        vault_id: String,
        /// The header the key opens.
        header: HeaderHash,
        /// How long to hold it.
        ttl: Duration,
        /// The file key.
        key: KeyBytes,
    },
    /// The vault was rewritten with a new key: swap it in, keeping the
    /// expiry of what is held (a write is not an unlock).
    Replace {
        /// The vault's id.
        vault_id: String,
        /// The new header.
        header: HeaderHash,
        /// The new file key.
        key: KeyBytes,
    },
    /// Drop every key now.
    Forget,
    /// Drop every key and exit.
    Stop,
    /// How many vaults are held, and the agent's pid.
    Status,
}

/// What the agent answers.
pub(super) enum Response {
    /// The key asked for.
    Key(KeyBytes),
    /// Nothing held for that header.
    None,
    /// Done.
    Ok,
    /// `status`: vaults held and the agent's pid.
    Status {
        /// How many vaults it holds keys for.
        held: usize,
        /// Its process id.
        pid: u32,
    },
    /// Refused, with a reason.
    Err(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Fills `out` from hex text of exactly twice its length.
fn unhex_into(text: &str, out: &mut [u8]) -> Option<()> {
    if text.len() != 2 * out.len() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(())
}

fn unhex_hash(text: &str) -> Option<HeaderHash> {
    let mut hash = [0u8; 32];
    unhex_into(text, &mut hash).map(|()| hash)
}

fn unhex_key(text: &str) -> Option<KeyBytes> {
    let mut key = Zeroizing::new([0u8; FILE_KEY_LEN]);
    unhex_into(text, &mut key[..]).map(|()| key)
}

fn hex_key(key: &KeyBytes, out: &mut Zeroizing<String>) {
    for b in key.iter() {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
}

/// A vault id as the payload has it: a short token of letters, digits and
/// dashes.
pub(super) fn valid_vault_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Request {
    /// The request line, newline included.
    pub(super) fn encode(&self) -> Zeroizing<String> {
        let mut line = Zeroizing::new(String::with_capacity(160));
        match self {
            Request::Lookup(h) => line.push_str(&format!("lookup {}", hex(h))),
            Request::Store {
                vault_id,
                header,
                ttl,
                key,
            } => {
                line.push_str(&format!(
                    "store {vault_id} {} {} ",
                    hex(header),
                    ttl.as_millis()
                ));
                hex_key(key, &mut line);
            }
            Request::Replace {
                vault_id,
                header,
                key,
            } => {
                line.push_str(&format!("replace {vault_id} {} ", hex(header)));
                hex_key(key, &mut line);
            }
            Request::Forget => line.push_str("forget"),
            Request::Stop => line.push_str("stop"),
            Request::Status => line.push_str("status"),
        }
        line.push('\n');
        line
    }

    /// Parses a request line (without its newline).
    pub(super) fn decode(line: &str) -> Result<Request, &'static str> {
        let fields: Vec<&str> = line.split(' ').collect();
        let id = |s: &str| {
            valid_vault_id(s)
                .then(|| s.to_owned())
                .ok_or("bad vault id")
        };
        let hash = |s: &str| unhex_hash(s).ok_or("bad header hash");
        let key = |s: &str| unhex_key(s).ok_or("bad file key");
        match fields.as_slice() {
            ["lookup", h] => Ok(Request::Lookup(hash(h)?)),
            ["store", v, h, ttl, k] => Ok(Request::Store {
                vault_id: id(v)?,
                header: hash(h)?,
                ttl: Duration::from_millis(ttl.parse().map_err(|_| "bad ttl")?),
                key: key(k)?,
            }),
            ["replace", v, h, k] => Ok(Request::Replace {
                vault_id: id(v)?,
                header: hash(h)?,
                key: key(k)?,
            }),
            ["forget"] => Ok(Request::Forget),
            ["stop"] => Ok(Request::Stop),
            ["status"] => Ok(Request::Status),
            _ => Err("unknown request"),
        }
    }
}

impl Response {
    /// The response line, newline included.
    pub(super) fn encode(&self) -> Zeroizing<String> {
        let mut line = Zeroizing::new(String::with_capacity(48));
        match self {
            Response::Key(k) => {
                line.push_str("key ");
                hex_key(k, &mut line);
            }
            Response::None => line.push_str("none"),
            Response::Ok => line.push_str("ok"),
            Response::Status { held, pid } => line.push_str(&format!("ok {held} {pid}")),
            Response::Err(reason) => line.push_str(&format!("err {reason}")),
        }
        line.push('\n');
        line
    }

    /// Parses a response line (without its newline).
    pub(super) fn decode(line: &str) -> Option<Response> {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["key", k] => unhex_key(k).map(Response::Key),
            ["none"] => Some(Response::None),
            ["ok"] => Some(Response::Ok),
            ["ok", held, pid] => Some(Response::Status {
                held: held.parse().ok()?,
                pid: pid.parse().ok()?,
            }),
            ["err", ..] => Some(Response::Err(line.get(4..).unwrap_or("").to_owned())),
            _ => None,
        }
    }
}

/// Reads one line of at most [`MAX_LINE`] bytes into a zeroizing buffer,
/// without its newline. `None` on end of input, a longer line or bytes that
/// are not UTF-8. Bytes after the newline are dropped: one line a
/// connection.
pub(super) fn read_line(mut reader: impl Read) -> std::io::Result<Option<Zeroizing<String>>> {
    // A plain buffer, not a BufReader, whose own buffer would keep a copy
    // of the key un-zeroized.
    let mut buf = Zeroizing::new(vec![0u8; MAX_LINE + 1]);
    let mut len = 0;
    loop {
        let n = match reader.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        if let Some(at) = buf[len..len + n].iter().position(|&b| b == b'\n') {
            let line = &buf[..len + at];
            return Ok(std::str::from_utf8(line)
                .ok()
                .map(|text| Zeroizing::new(text.to_owned())));
        }
        len += n;
        if len == buf.len() {
            return Ok(None);
        }
    }
}

/// Writes a line and flushes it.
pub(super) fn write_line(mut writer: impl Write, line: &str) -> std::io::Result<()> {
    writer.write_all(line.as_bytes())?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> KeyBytes {
        Zeroizing::new([7u8; FILE_KEY_LEN])
    }

    #[test]
    fn requests_round_trip() {
        let store = Request::Store {
            vault_id: "ab12-cd".into(),
            header: [9u8; 32],
            ttl: Duration::from_millis(1500),
            key: key(),
        };
        let line = store.encode();
        match Request::decode(line.trim_end()) {
            Ok(Request::Store {
                vault_id,
                header,
                ttl,
                key: k,
            }) => {
                assert_eq!(vault_id, "ab12-cd");
                assert_eq!(header, [9u8; 32]);
                assert_eq!(ttl, Duration::from_millis(1500));
                assert_eq!(*k, *key());
            }
            _ => panic!("store did not round-trip"),
        }
        assert!(matches!(
            Request::decode(Request::Lookup([1; 32]).encode().trim_end()),
            Ok(Request::Lookup(h)) if h == [1; 32]
        ));
    }

    #[test]
    fn bad_requests_are_refused() {
        for line in [
            "",
            "lookup",
            "lookup zz",
            "store a/b 00 1 00",
            "replace x 00 00",
            "stop now",
            "LOOKUP 00",
        ] {
            assert!(Request::decode(line).is_err(), "{line:?} was accepted");
        }
    }

    #[test]
    fn responses_round_trip() {
        match Response::decode(Response::Key(key()).encode().trim_end()) {
            Some(Response::Key(k)) => assert_eq!(*k, *key()),
            _ => panic!("key did not round-trip"),
        }
        assert!(matches!(
            Response::decode("ok 2 41"),
            Some(Response::Status { held: 2, pid: 41 })
        ));
        assert!(matches!(Response::decode("err no"), Some(Response::Err(r)) if r == "no"));
        assert!(Response::decode("key 00").is_none());
        assert!(matches!(Response::decode("err"), Some(Response::Err(r)) if r.is_empty()));
    }

    #[test]
    fn a_line_longer_than_the_limit_is_refused() {
        let long = vec![b'a'; MAX_LINE + 10];
        assert!(read_line(&long[..]).expect("read").is_none());
        assert_eq!(
            read_line(&b"stop\nmore"[..])
                .expect("read")
                .as_deref()
                .map(String::as_str),
            Some("stop")
        );
    }
}
