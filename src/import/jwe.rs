//! The items of aws-vault's file backend: JWE compact serialization
//! (RFC 7516) with `alg` PBES2-HS256+A128KW and `enc` A256GCM (RFC 7518
//! §4.8 and §5.3), as jose2go writes them for 99designs/keyring.
//!
//! ```text
//! BASE64URL(header) . BASE64URL(wrapped key) . BASE64URL(iv) . BASE64URL(ciphertext) . BASE64URL(tag)
//! kek = PBKDF2-HMAC-SHA256(passphrase, "PBES2-HS256+A128KW" || 0x00 || p2s, p2c, 16 bytes)
//! cek = AES-128-KW-unwrap(kek, wrapped key)             (32 bytes)
//! plaintext = AES-256-GCM(cek, iv, aad = header segment as it stands, ciphertext, tag)
//! ```
//!
//! What must stay true:
//! - parsing does no key derivation, and an iteration count above
//!   [`MAX_P2C`] is refused while parsing, so a hostile file costs nothing;
//! - the derived key, the content key and the plaintext live only in
//!   zeroizing buffers, and nothing here has a `Debug` that shows them;
//! - `parse` accepts only canonical base64url, so `to_compact(parse(x))` is
//!   `x` (without surrounding white space); the fuzz target checks this.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use aes_kw::KekAes128;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::Hmac;
use secrecy::{ExposeSecret, SecretSlice};
use serde::de::IgnoredAny;
use serde::Deserialize;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The key management algorithm aws-vault's file backend uses.
pub(super) const ALG: &str = "PBES2-HS256+A128KW";
/// The content encryption aws-vault's file backend uses.
pub(super) const ENC: &str = "A256GCM";
/// The largest PBES2 iteration count accepted: the bound jose2go (the
/// library aws-vault writes with) enforces since v1.6. aws-vault writes
/// 8192.
pub const MAX_P2C: u64 = 1_300_000;

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const CEK_LEN: usize = 32;
/// A 32-byte key wrapped with AES-KW: 8 bytes longer.
const WRAPPED_CEK_LEN: usize = CEK_LEN + 8;

/// Why an item cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JweError {
    /// Not a JWE compact serialization (or not one of ours).
    #[error("not a JWE item: {0}")]
    Malformed(&'static str),
    /// A key management algorithm other than PBES2-HS256+A128KW.
    #[error("unsupported key algorithm {0:?} (aws-vault writes PBES2-HS256+A128KW)")]
    Algorithm(String),
    /// A content encryption other than A256GCM.
    #[error("unsupported content encryption {0:?} (aws-vault writes A256GCM)")]
    Encryption(String),
    /// A header field we do not implement (`zip`, `crit`).
    #[error("unsupported JWE header field {0:?}")]
    Unsupported(&'static str),
    /// The PBES2 iteration count is above [`MAX_P2C`].
    #[error(
        "its PBES2 iteration count {0} is above the limit of {MAX_P2C}; refused without trying"
    )]
    TooManyIterations(u64),
    /// The key does not unwrap: another passphrase, or a damaged key.
    #[error("the passphrase does not open it (another passphrase, or a damaged file)")]
    KeyUnwrap,
    /// The key unwrapped but the contents fail authentication.
    #[error("its contents fail authentication (damaged or altered)")]
    Content,
}

/// The protected header, as far as we read it.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    enc: String,
    p2c: Option<serde_json::Number>,
    p2s: Option<String>,
    zip: Option<IgnoredAny>,
    crit: Option<IgnoredAny>,
}

/// A parsed item: everything in it is encrypted, so none of it is secret.
#[derive(Debug, Clone)]
pub struct Jwe {
    /// The header segment exactly as it stands: the AAD.
    protected: String,
    p2c: u32,
    p2s: Vec<u8>,
    wrapped_key: Vec<u8>,
    iv: [u8; IV_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
}

fn segment(text: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JweError::Malformed(what))
}

/// Reads `p2c`: a positive integer, at most [`MAX_P2C`].
fn iterations(p2c: Option<serde_json::Number>) -> Result<u32, JweError> {
    let p2c = p2c.ok_or(JweError::Malformed("the header has no p2c"))?;
    match p2c.as_u64() {
        Some(0) => Err(JweError::Malformed("p2c is 0")),
        Some(n) if n > MAX_P2C => Err(JweError::TooManyIterations(n)),
        Some(n) => u32::try_from(n).map_err(|_| JweError::TooManyIterations(n)),
        // Beyond u64 (parsed as a float), or negative, or a fraction.
        None => match p2c.as_f64() {
            Some(f) if f > MAX_P2C as f64 => Err(JweError::TooManyIterations(u64::MAX)),
            _ => Err(JweError::Malformed("p2c is not a positive integer")),
        },
    }
}

impl Jwe {
    /// Parses a compact serialization (surrounding white space allowed).
    /// Checks the algorithms and the iteration count; derives no key.
    pub fn parse(bytes: &[u8]) -> Result<Jwe, JweError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| JweError::Malformed("not text"))?
            .trim_ascii();
        let mut parts = text.split('.');
        let (Some(protected), Some(key), Some(iv), Some(ciphertext), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(JweError::Malformed("expected five dot-separated parts"));
        };
        let header_json = segment(protected, "the header is not base64url")?;
        let header: RawHeader = serde_json::from_slice(&header_json)
            .map_err(|_| JweError::Malformed("the header is not a JSON object with alg and enc"))?;
        if header.alg != ALG {
            return Err(JweError::Algorithm(shorten(&header.alg)));
        }
        if header.enc != ENC {
            return Err(JweError::Encryption(shorten(&header.enc)));
        }
        if header.zip.is_some() {
            return Err(JweError::Unsupported("zip"));
        }
        if header.crit.is_some() {
            return Err(JweError::Unsupported("crit"));
        }
        let p2c = iterations(header.p2c)?;
        let p2s = segment(
            header
                .p2s
                .as_deref()
                .ok_or(JweError::Malformed("the header has no p2s"))?,
            "p2s is not base64url",
        )?;
        let wrapped_key = segment(key, "the encrypted key is not base64url")?;
        if wrapped_key.len() != WRAPPED_CEK_LEN {
            return Err(JweError::Malformed(
                "the encrypted key is not a wrapped 256-bit key",
            ));
        }
        let iv = segment(iv, "the IV is not base64url")?
            .try_into()
            .map_err(|_| JweError::Malformed("the IV is not 96 bits"))?;
        let ciphertext = segment(ciphertext, "the ciphertext is not base64url")?;
        let tag = segment(tag, "the tag is not base64url")?
            .try_into()
            .map_err(|_| JweError::Malformed("the tag is not 128 bits"))?;
        Ok(Jwe {
            protected: protected.to_owned(),
            p2c,
            p2s,
            wrapped_key,
            iv,
            ciphertext,
            tag,
        })
    }

    /// The PBES2 iteration count (at most [`MAX_P2C`]).
    pub fn iterations(&self) -> u32 {
        self.p2c
    }

    /// The compact serialization again.
    pub fn to_compact(&self) -> String {
        [
            self.protected.clone(),
            URL_SAFE_NO_PAD.encode(&self.wrapped_key),
            URL_SAFE_NO_PAD.encode(self.iv),
            URL_SAFE_NO_PAD.encode(&self.ciphertext),
            URL_SAFE_NO_PAD.encode(self.tag),
        ]
        .join(".")
    }

    /// Decrypts with `passphrase`: one PBKDF2 run of [`Jwe::iterations`]
    /// rounds, then the key unwrap and AES-GCM.
    pub fn decrypt(&self, passphrase: &SecretSlice<u8>) -> Result<Zeroizing<Vec<u8>>, JweError> {
        let mut salt = Vec::with_capacity(ALG.len() + 1 + self.p2s.len());
        salt.extend_from_slice(ALG.as_bytes());
        salt.push(0);
        salt.extend_from_slice(&self.p2s);
        let mut kek = Zeroizing::new([0u8; 16]);
        pbkdf2::pbkdf2::<Hmac<Sha256>>(passphrase.expose_secret(), &salt, self.p2c, &mut *kek)
            .map_err(|_| JweError::KeyUnwrap)?;
        let mut cek = Zeroizing::new([0u8; CEK_LEN]);
        KekAes128::new(GenericArray::from_slice(&*kek))
            .unwrap(&self.wrapped_key, &mut *cek)
            .map_err(|_| JweError::KeyUnwrap)?;
        // Room for nothing more: the buffer is never grown (and so copied).
        let mut plain = Zeroizing::new(Vec::with_capacity(self.ciphertext.len()));
        plain.extend_from_slice(&self.ciphertext);
        // aes-gcm checks the tag before it decrypts: on failure `plain`
        // still holds ciphertext.
        Aes256Gcm::new(GenericArray::from_slice(&*cek))
            .decrypt_in_place_detached(
                GenericArray::from_slice(&self.iv),
                self.protected.as_bytes(),
                &mut plain,
                GenericArray::from_slice(&self.tag),
            )
            .map_err(|_| JweError::Content)?;
        Ok(plain)
    }
}

/// A value from a file, cut short for a message.
fn shorten(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// The body of the `jwe_parse` fuzz target: arbitrary bytes as an item.
/// Whatever parses must serialize back to itself; whatever asks for few
/// enough iterations is also decrypted (and fails) with a fixed passphrase.
/// Panics only on a broken invariant.
pub fn fuzz_jwe_parse(data: &[u8]) {
    let Ok(jwe) = Jwe::parse(data) else {
        return;
    };
    let trimmed = std::str::from_utf8(data).map(str::trim_ascii);
    assert_eq!(
        Ok(jwe.to_compact().as_str()),
        trimmed,
        "a parsed item does not serialize back to its text"
    );
    if jwe.iterations() <= 64 {
        let _ = jwe.decrypt(&SecretSlice::from(b"fuzz".to_vec()));
    }
}

/// An encoder for tests: what jose2go writes, with a chosen salt and count.
#[cfg(test)]
pub(crate) fn encrypt_for_tests(
    plain: &[u8],
    passphrase: &[u8],
    header: &str,
    p2c: u32,
    p2s: &[u8],
) -> String {
    use aes_gcm::aead::AeadCore;
    use rand::rngs::OsRng;
    use rand::RngCore;

    let protected = URL_SAFE_NO_PAD.encode(header);
    let mut salt = ALG.as_bytes().to_vec();
    salt.push(0);
    salt.extend_from_slice(p2s);
    let mut kek = [0u8; 16];
    pbkdf2::pbkdf2::<Hmac<Sha256>>(passphrase, &salt, p2c, &mut kek).expect("hmac takes any key");
    let mut cek = [0u8; CEK_LEN];
    OsRng.fill_bytes(&mut cek);
    let mut wrapped = [0u8; WRAPPED_CEK_LEN];
    KekAes128::from(kek)
        .wrap(&cek, &mut wrapped)
        .expect("wrap 32 bytes");
    let iv = Aes256Gcm::generate_nonce(&mut OsRng);
    let mut buf = plain.to_vec();
    let tag = Aes256Gcm::new(GenericArray::from_slice(&cek))
        .encrypt_in_place_detached(&iv, protected.as_bytes(), &mut buf)
        .expect("encrypt");
    [
        protected,
        URL_SAFE_NO_PAD.encode(wrapped),
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(buf),
        URL_SAFE_NO_PAD.encode(tag),
    ]
    .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSPHRASE: &[u8] = b"correct horse battery staple";

    /// The fixture item `alice` (in CI, `../shared` is beside the clone).
    fn fixture_alice() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/aws-vault-file-backend/alice"
        );
        std::fs::read(path).expect("read the fixture (../shared beside the clone)")
    }

    fn pass(p: &[u8]) -> SecretSlice<u8> {
        SecretSlice::from(p.to_vec())
    }

    fn header(p2c: &str) -> String {
        format!(r#"{{"alg":"{ALG}","enc":"{ENC}","p2c":{p2c},"p2s":"c2FsdHNhbHRzYWx0"}}"#)
    }

    #[test]
    fn decrypts_an_item_aws_vault_wrote() {
        let jwe = Jwe::parse(&fixture_alice()).expect("parses");
        assert_eq!(jwe.iterations(), 8192);
        let plain = jwe.decrypt(&pass(PASSPHRASE)).expect("decrypts");
        let text = std::str::from_utf8(&plain).expect("utf-8");
        assert!(text.starts_with(r#"{"Key":"alice","Data":""#), "{text}");
        assert_eq!(
            jwe.decrypt(&pass(b"correct horse battery stapler"))
                .map(drop),
            Err(JweError::KeyUnwrap)
        );
    }

    #[test]
    fn decrypts_an_item_another_implementation_wrote() {
        // Made with Python's `cryptography` (PBKDF2HMAC, aes_key_wrap,
        // AESGCM); also a seed of the fuzz target, which decrypts it.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/corpus/jwe_parse/seed-decrypts-with-fuzz"
        );
        let jwe = Jwe::parse(&std::fs::read(path).expect("read the seed")).expect("parses");
        assert_eq!(jwe.iterations(), 16);
        let plain = jwe.decrypt(&pass(b"fuzz")).expect("decrypts");
        assert!(plain.starts_with(br#"{"Key": "fuzz""#));
    }

    #[test]
    fn round_trips_and_refuses_tampering() {
        let text = encrypt_for_tests(b"{\"x\":1}", b"pw", &header("1000"), 1000, b"saltsaltsalt");
        let jwe = Jwe::parse(format!("  {text}\n").as_bytes()).expect("parses");
        assert_eq!(jwe.to_compact(), text);
        assert_eq!(&*jwe.decrypt(&pass(b"pw")).expect("decrypts"), b"{\"x\":1}");

        let parts: Vec<&str> = text.split('.').collect();
        // Flip one bit of the first ciphertext byte, of the tag, of the
        // wrapped key; and change the header (the AAD) without changing
        // what it says.
        let flip = |segment: &str| {
            let mut bytes = URL_SAFE_NO_PAD.decode(segment).expect("b64");
            bytes[0] ^= 1;
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let with = |i: usize, new: String| {
            let mut p: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
            p[i] = new;
            p.join(".")
        };
        let decrypt = |t: String| {
            Jwe::parse(t.as_bytes())
                .expect("parses")
                .decrypt(&pass(b"pw"))
        };
        assert_eq!(
            decrypt(with(3, flip(parts[3]))).map(drop),
            Err(JweError::Content)
        );
        assert_eq!(
            decrypt(with(4, flip(parts[4]))).map(drop),
            Err(JweError::Content)
        );
        assert_eq!(
            decrypt(with(1, flip(parts[1]))).map(drop),
            Err(JweError::KeyUnwrap)
        );
        let spaced = URL_SAFE_NO_PAD.encode(header("1000").replace(':', ": "));
        assert_eq!(decrypt(with(0, spaced)).map(drop), Err(JweError::Content));
    }

    #[test]
    fn iteration_counts_above_the_limit_are_refused_while_parsing() {
        let fixture = Jwe::parse(&fixture_alice()).expect("parses");
        let mut parts: Vec<String> = fixture.to_compact().split('.').map(str::to_owned).collect();
        for (p2c, expected) in [
            ("10000000", Err(JweError::TooManyIterations(10_000_000))),
            ("1300001", Err(JweError::TooManyIterations(1_300_001))),
            ("1e30", Err(JweError::TooManyIterations(u64::MAX))),
            (
                "100000000000000000000000000",
                Err(JweError::TooManyIterations(u64::MAX)),
            ),
            ("0", Err(JweError::Malformed("p2c is 0"))),
            (
                "-5",
                Err(JweError::Malformed("p2c is not a positive integer")),
            ),
            (
                "8192.5",
                Err(JweError::Malformed("p2c is not a positive integer")),
            ),
            (
                "\"8192\"",
                Err(JweError::Malformed(
                    "the header is not a JSON object with alg and enc",
                )),
            ),
            ("1300000", Ok(1_300_000)),
        ] {
            parts[0] = URL_SAFE_NO_PAD.encode(header(p2c));
            let started = std::time::Instant::now();
            let got = Jwe::parse(parts.join(".").as_bytes()).map(|j| j.iterations());
            assert_eq!(got, expected, "p2c {p2c}");
            assert!(started.elapsed().as_millis() < 100, "parsing took long");
        }
    }

    #[test]
    fn refuses_other_algorithms_and_shapes() {
        let ok = encrypt_for_tests(b"x", b"pw", &header("10"), 10, b"s");
        let mut parts: Vec<String> = ok.split('.').map(str::to_owned).collect();
        let set_header = |parts: &mut Vec<String>, h: &str| {
            parts[0] = URL_SAFE_NO_PAD.encode(h);
            Jwe::parse(parts.join(".").as_bytes()).map(drop)
        };
        assert_eq!(
            set_header(&mut parts, r#"{"alg":"dir","enc":"A256GCM"}"#),
            Err(JweError::Algorithm("dir".into()))
        );
        assert_eq!(
            set_header(
                &mut parts,
                r#"{"alg":"PBES2-HS256+A128KW","enc":"A128GCM","p2c":1,"p2s":""}"#
            ),
            Err(JweError::Encryption("A128GCM".into()))
        );
        assert_eq!(
            set_header(&mut parts, &header("10").replace('}', r#","zip":"DEF"}"#)),
            Err(JweError::Unsupported("zip"))
        );
        assert_eq!(
            set_header(&mut parts, &header("10").replace('}', r#","crit":["x"]}"#)),
            Err(JweError::Unsupported("crit"))
        );
        assert!(
            matches!(
                set_header(&mut parts, &header("10").replace("p2c", "p2c\":1,\"p2c")),
                Err(JweError::Malformed(_))
            ),
            "duplicate fields are refused"
        );
        for bad in ["", "a.b.c.d", "a.b.c.d.e.f", "....", &ok.replace('.', ".=")] {
            assert!(
                matches!(Jwe::parse(bad.as_bytes()), Err(JweError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            Jwe::parse(&[0xff, b'.']).map(drop),
            Err(JweError::Malformed("not text"))
        );
        let long = "x".repeat(100);
        let message = JweError::Algorithm(shorten(&long)).to_string();
        assert!(
            !message.contains(&long) && message.contains('…'),
            "{message}"
        );
    }

    #[test]
    fn fuzz_body_accepts_the_fixture_and_garbage() {
        fuzz_jwe_parse(&fixture_alice());
        fuzz_jwe_parse(b"not a jwe");
        fuzz_jwe_parse(encrypt_for_tests(b"x", b"fuzz", &header("3"), 3, b"s").as_bytes());
    }
}
