//! The self-signed X.509 certificate that age-plugin-yubikey keeps next to
//! each of its keys, written and read here so that a slot avault generated
//! is one age-plugin-yubikey lists and decrypts with, and so that a slot can
//! be read on firmware without GET METADATA (before 5.3).
//!
//! What age-plugin-yubikey writes (src/builder.rs, through the `yubikey`
//! crate) and what it checks when listing and decrypting (src/util.rs,
//! src/key.rs, src/p256.rs):
//!
//! ```text
//! Certificate  SEQUENCE {
//!   tbsCertificate SEQUENCE {
//!     [0] { INTEGER 2 }                        v3
//!     INTEGER serial                           20 random bytes
//!     SEQUENCE { OID ecdsa-with-SHA256 }       no parameters
//!     issuer  = subject                        self-signed
//!     SEQUENCE { UTCTime now, GeneralizedTime 99991231235959Z }
//!     subject SEQUENCE { SET { SEQUENCE { OID, UTF8String } } ... }
//!               O=age-plugin-yubikey  (how the plugin tells its own slots)
//!               OU=<version>, CN=<name>
//!     SEQUENCE { SEQUENCE { OID ecPublicKey, OID prime256v1 },
//!                BIT STRING <uncompressed point> }
//!     [3] { SEQUENCE { SEQUENCE { OID 1.3.6.1.4.1.41482.3.8,
//!                                 OCTET STRING <pin policy, touch policy> } } }
//!   }
//!   SEQUENCE { OID ecdsa-with-SHA256 }
//!   BIT STRING <DER ECDSA signature, made by the slot's key on the card>
//! }
//! ```
//!
//! The policy extension has the two policy bytes of PIV attestations
//! (PIN: 1 never, 2 once, 3 always; touch: 1 never, 2 always, 3 cached);
//! the plugin reads the PIN policy from it to decide whether to ask for the
//! PIN. The certificate is stored in the slot's PIV object (5F C1 0D + n - 1
//! for retired slot n) as `70 L <DER> 71 01 00 FE 00` (uncompressed, empty
//! LRC), the value of tag 53 of PUT DATA / GET DATA.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::card::{tlv, tlv_encode, Apdu};
use super::piv::{Policy, YubiKey};
use super::HwError;

/// The organization age-plugin-yubikey puts in its certificates' subject
/// and looks for to tell its own slots from others.
pub const ORGANIZATION: &str = "age-plugin-yubikey";
/// Yubico's PIN and touch policy extension (as in PIV attestations).
const POLICY_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 41482, 3, 8];
const EC_PUBLIC_KEY_OID: &[u64] = &[1, 2, 840, 10045, 2, 1];
const P256_OID: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const ECDSA_SHA256_OID: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const ORGANIZATION_OID: &[u64] = &[2, 5, 4, 10];
const UNIT_OID: &[u64] = &[2, 5, 4, 11];
const COMMON_NAME_OID: &[u64] = &[2, 5, 4, 3];

// DER tags.
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;

// Tags of the PIV certificate object.
const TAG_CERT: u8 = 0x70;
const TAG_CERT_INFO: u8 = 0x71;
const TAG_LRC: u8 = 0xfe;

// ---------------------------------------------------------------------------
// DER, as little of it as a certificate needs.

/// One DER element: tag, definite length (short or long form), content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A constructed element of the concatenated `parts`.
fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    der(tag, &parts.concat())
}

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(SEQUENCE, parts)
}

/// An OBJECT IDENTIFIER: the first two arcs in one, then base 128.
fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut content = Vec::new();
    let first = arcs.first().copied().unwrap_or(0) * 40 + arcs.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(arcs.iter().skip(2).copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    der(OID, &content)
}

/// A non-negative INTEGER from big-endian bytes: leading zeros trimmed, a
/// zero put back when the top bit would read as a sign.
fn unsigned(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().take_while(|b| **b == 0).count();
    let digits = &bytes[start..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    if digits.first().is_none_or(|b| *b >= 0x80) {
        content.push(0);
    }
    content.extend_from_slice(digits);
    der(INTEGER, &content)
}

/// A BIT STRING of whole bytes.
fn bits(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    der(BIT_STRING, &content)
}

/// UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
fn time(t: time::OffsetDateTime) -> Vec<u8> {
    let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
    let (h, mi, s) = (t.hour(), t.minute(), t.second());
    if (1950..2050).contains(&y) {
        let text = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
        der(UTC_TIME, text.as_bytes())
    } else {
        let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z");
        der(GENERALIZED_TIME, text.as_bytes())
    }
}

/// A Name of one attribute per RDN, each a UTF8String.
fn name(attributes: &[(&[u64], &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attributes
        .iter()
        .map(|(type_oid, value)| {
            let attribute = sequence(&[&oid(type_oid), &der(UTF8_STRING, value.as_bytes())]);
            der(SET, &attribute)
        })
        .collect();
    der(SEQUENCE, &rdns.concat())
}

/// Splits one DER element off the front of `data`: (tag, content, rest).
fn take(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// The content of the element at the front of `data`, when it has `tag`.
fn expect(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match take(data)? {
        (t, content, rest) if t == tag => Some((content, rest)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The certificate.

/// What goes into a slot's certificate besides its key.
#[derive(Clone, Debug)]
pub struct CertificateRequest<'a> {
    /// The CN (age-plugin-yubikey's default: "age identity <tag in hex>").
    pub name: &'a str,
    /// The OU (age-plugin-yubikey puts its version there).
    pub unit: &'a str,
    /// The key's PIN policy, as generated.
    pub pin: Policy,
    /// The key's touch policy, as generated.
    pub touch: Policy,
}

/// The to-be-signed part of a self-signed certificate for `point` (SEC1,
/// uncompressed).
pub(crate) fn tbs_certificate(
    request: &CertificateRequest<'_>,
    point: &[u8],
    serial: &[u8; 20],
    not_before: time::OffsetDateTime,
) -> Vec<u8> {
    let subject = name(&[
        (ORGANIZATION_OID, ORGANIZATION),
        (UNIT_OID, request.unit),
        (COMMON_NAME_OID, request.name),
    ]);
    let validity = sequence(&[
        &time(not_before),
        &der(GENERALIZED_TIME, b"99991231235959Z"),
    ]);
    let spki = sequence(&[
        &sequence(&[&oid(EC_PUBLIC_KEY_OID), &oid(P256_OID)]),
        &bits(point),
    ]);
    let policies = [request.pin.pin_byte(), request.touch.touch_byte()];
    let extension = sequence(&[&oid(POLICY_OID), &der(OCTET_STRING, &policies)]);
    sequence(&[
        &der(VERSION, &unsigned(&[2])),
        &unsigned(serial),
        &sequence(&[&oid(ECDSA_SHA256_OID)]),
        &subject,
        &validity,
        &subject,
        &spki,
        &der(EXTENSIONS, &sequence(&[&extension])),
    ])
}

/// The certificate: `tbs` and the DER ECDSA signature over its SHA-256.
pub(crate) fn certificate(tbs: &[u8], signature: &[u8]) -> Vec<u8> {
    sequence(&[tbs, &sequence(&[&oid(ECDSA_SHA256_OID)]), &bits(signature)])
}

/// What a slot's certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotCertificate {
    /// The subject's key, when it is P-256 (SEC1 as stored, uncompressed).
    pub point: Option<Vec<u8>>,
    /// Whether the subject's O is age-plugin-yubikey.
    pub age_plugin_yubikey: bool,
    /// The PIN and touch policy bytes of Yubico's extension, when present.
    pub policies: Option<(u8, u8)>,
}

/// Reads the fields avault uses out of a DER certificate; `None` when it is
/// not one.
pub fn parse_certificate(der_bytes: &[u8]) -> Option<SlotCertificate> {
    let (cert, _) = expect(der_bytes, SEQUENCE)?;
    let (tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    if let Some((_, after)) = expect(rest, VERSION) {
        rest = after;
    }
    let (_serial, rest) = expect(rest, INTEGER)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (_validity, rest) = expect(rest, SEQUENCE)?;
    let (subject, rest) = expect(rest, SEQUENCE)?;
    let (spki, mut rest) = expect(rest, SEQUENCE)?;

    let age_plugin_yubikey = organization(subject).as_deref() == Some(ORGANIZATION);

    let (algorithm, after) = expect(spki, SEQUENCE)?;
    let (key_bits, _) = expect(after, BIT_STRING)?;
    let (alg_id, params) = expect(algorithm, OID)?;
    let p256 = der(OID, alg_id) == oid(EC_PUBLIC_KEY_OID) && params == oid(P256_OID);
    let point = match key_bits.split_first() {
        Some((0, point)) if p256 => Some(point.to_vec()),
        _ => None,
    };

    let mut policies = None;
    while let Some((tag, content, after)) = take(rest) {
        rest = after;
        if tag != EXTENSIONS {
            continue;
        }
        let (mut list, _) = expect(content, SEQUENCE)?;
        while let Some((extension, after)) = expect(list, SEQUENCE) {
            list = after;
            let (id, mut fields) = expect(extension, OID)?;
            if der(OID, id) != oid(POLICY_OID) {
                continue;
            }
            // An optional `critical` BOOLEAN, then the OCTET STRING.
            if let Some((0x01, _, after)) = take(fields) {
                fields = after;
            }
            let (value, _) = expect(fields, OCTET_STRING)?;
            if let [pin, touch, ..] = value {
                policies = Some((*pin, *touch));
            }
        }
    }
    Some(SlotCertificate {
        point,
        age_plugin_yubikey,
        policies,
    })
}

/// The first O of a Name, as text.
fn organization(name: &[u8]) -> Option<String> {
    let mut rdns = name;
    while let Some((rdn, after)) = expect(rdns, SET) {
        rdns = after;
        let mut attributes = rdn;
        while let Some((attribute, after)) = expect(attributes, SEQUENCE) {
            attributes = after;
            let (id, value) = expect(attribute, OID)?;
            if der(OID, id) == oid(ORGANIZATION_OID) {
                let (_, text, _) = take(value)?;
                return String::from_utf8(text.to_vec()).ok();
            }
        }
    }
    None
}

/// The PIV object that holds the certificate of `slot` (retired slots 0x82
/// to 0x95 and the four standard ones).
pub fn object_id(slot: u8) -> Option<[u8; 3]> {
    let last = match slot {
        0x9a => 0x05,
        0x9c => 0x0a,
        0x9d => 0x0b,
        0x9e => 0x01,
        0x82..=0x95 => 0x0d + (slot - 0x82),
        _ => return None,
    };
    Some([0x5f, 0xc1, last])
}

/// A certificate as the slot's object stores it: the DER, "uncompressed",
/// and an empty LRC.
pub(crate) fn object_value(der_bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(der_bytes.len() + 10);
    tlv_encode(TAG_CERT, der_bytes, &mut out);
    tlv_encode(TAG_CERT_INFO, &[0x00], &mut out);
    tlv_encode(TAG_LRC, &[], &mut out);
    out
}

/// The DER out of an object's value; `None` when it holds none or holds a
/// compressed one (which avault does not read).
pub(crate) fn object_certificate(value: &[u8]) -> Option<&[u8]> {
    let der_bytes = tlv(value, TAG_CERT)?;
    match tlv(value, TAG_CERT_INFO) {
        None | Some([0x00]) => Some(der_bytes),
        Some(_) => None,
    }
}

impl YubiKey {
    /// The value of PIV data object `id` (tag 53 of GET DATA), or `None`
    /// when the card holds no such object.
    pub(crate) fn get_object(&self, id: &[u8; 3]) -> Result<Option<Vec<u8>>, HwError> {
        let mut data = Vec::new();
        tlv_encode(0x5c, id, &mut data);
        let r = self.send(&Apdu::new(0xcb, 0x3f, 0xff, &data))?;
        match r.sw {
            0x9000 => {}
            0x6a82 => return Ok(None),
            sw => {
                return Err(HwError::Status {
                    what: "GET DATA",
                    sw,
                })
            }
        }
        tlv(&r.data, 0x53)
            .map(|v| Some(v.to_vec()))
            .ok_or(HwError::Status {
                what: "GET DATA",
                sw: r.sw,
            })
    }

    /// Stores `value` as PIV data object `id` (needs the management key).
    pub(crate) fn put_object(&self, id: &[u8; 3], value: &[u8]) -> Result<(), HwError> {
        let mut data = Vec::with_capacity(value.len() + 10);
        tlv_encode(0x5c, id, &mut data);
        tlv_encode(0x53, value, &mut data);
        let r = self.send(&Apdu::new(0xdb, 0x3f, 0xff, &data))?;
        match r.sw {
            0x9000 => Ok(()),
            0x6982 => Err(HwError::ManagementKey),
            sw => Err(HwError::Status {
                what: "PUT DATA",
                sw,
            }),
        }
    }

    /// Signs a SHA-256 `digest` with the P-256 key in `slot`: the DER ECDSA
    /// signature. Needs the PIN first when the slot's policy says so, and a
    /// touch when its touch policy does.
    pub fn sign(&self, slot: u8, digest: &[u8; 32]) -> Result<Vec<u8>, HwError> {
        const WHAT: &str = "GENERAL AUTHENTICATE (sign)";
        let sig = self.key_operation(slot, 0x81, digest, WHAT)?;
        if sig.first() != Some(&0x30) {
            return Err(HwError::Status {
                what: WHAT,
                sw: 0x9000,
            });
        }
        Ok(sig.to_vec())
    }

    /// Makes a self-signed certificate for the key in `slot` (its public
    /// key `point`, SEC1), signed on the card, and stores it in the slot's
    /// object; returns its DER. Needs the management key authenticated, the
    /// PIN verified when the key's PIN policy asks for it, and a touch when
    /// its touch policy does.
    pub fn write_certificate(
        &self,
        slot: u8,
        point: &[u8],
        request: &CertificateRequest<'_>,
    ) -> Result<Vec<u8>, HwError> {
        use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
        let id = object_id(slot).ok_or(HwError::SlotEmpty { slot })?;
        let encoded = p256::EncodedPoint::from_bytes(point).map_err(|_| HwError::Status {
            what: "GENERATE",
            sw: 0x9000,
        })?;
        let key = Option::<p256::PublicKey>::from(p256::PublicKey::from_encoded_point(&encoded))
            .ok_or(HwError::Status {
                what: "GENERATE",
                sw: 0x9000,
            })?;
        let uncompressed = key.to_encoded_point(false);
        let mut serial = Zeroizing::new([0u8; 20]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, serial.as_mut());
        // Positive and at most 20 octets (RFC 5280 4.1.2.2).
        serial[0] &= 0x7f;
        let tbs = tbs_certificate(
            request,
            uncompressed.as_bytes(),
            &serial,
            time::OffsetDateTime::now_utc(),
        );
        let digest: [u8; 32] = Sha256::digest(&tbs).into();
        let signature = self.sign(slot, &digest)?;
        let cert = certificate(&tbs, &signature);
        self.put_object(&id, &object_value(&cert))?;
        Ok(cert)
    }

    /// The certificate in `slot`'s object, parsed; `None` when there is
    /// none (or it is not one avault can read).
    pub fn slot_certificate(&self, slot: u8) -> Result<Option<SlotCertificate>, HwError> {
        let Some(id) = object_id(slot) else {
            return Ok(None);
        };
        let Some(value) = self.get_object(&id)? else {
            return Ok(None);
        };
        Ok(object_certificate(&value).and_then(parse_certificate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
    use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

    fn request() -> CertificateRequest<'static> {
        CertificateRequest {
            name: "age identity 0a0b0c0d",
            unit: "avault 0.1.0",
            pin: Policy::Once,
            touch: Policy::Always,
        }
    }

    fn signed(key: &SigningKey, when: time::OffsetDateTime) -> Vec<u8> {
        let point = key.verifying_key().to_encoded_point(false);
        let mut serial = [0xffu8; 20];
        serial[0] = 0x7f;
        let tbs = tbs_certificate(&request(), point.as_bytes(), &serial, when);
        let digest: [u8; 32] = Sha256::digest(&tbs).into();
        let sig: Signature = key.sign_prehash(&digest).expect("sign");
        certificate(&tbs, sig.to_der().as_bytes())
    }

    #[test]
    fn oids_encode_as_der() {
        assert_eq!(
            oid(EC_PUBLIC_KEY_OID),
            [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]
        );
        assert_eq!(
            oid(POLICY_OID),
            [0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xc4, 0x0a, 0x03, 0x08]
        );
        assert_eq!(oid(COMMON_NAME_OID), [0x06, 0x03, 0x55, 0x04, 0x03]);
    }

    #[test]
    fn integers_lengths_and_times() {
        assert_eq!(unsigned(&[0, 0, 5]), [0x02, 0x01, 0x05]);
        assert_eq!(unsigned(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(&der(0x04, &[0u8; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(&der(0x04, &[0u8; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
        let at = |unix| time::OffsetDateTime::from_unix_timestamp(unix).expect("time");
        let t = at(1_777_863_721); // 2026-05-04 03:02:01 UTC
        assert_eq!(time(t), der(UTC_TIME, b"260504030201Z"));
        let t = at(2_524_608_000); // 2050-01-01 00:00:00 UTC
        assert_eq!(time(t), der(GENERALIZED_TIME, b"20500101000000Z"));
    }

    #[test]
    fn a_certificate_parses_back_and_its_signature_verifies() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let cert = signed(&key, time::OffsetDateTime::now_utc());
        let parsed = parse_certificate(&cert).expect("parses");
        let point = key.verifying_key().to_encoded_point(false);
        assert_eq!(parsed.point.as_deref(), Some(point.as_bytes()));
        assert!(parsed.age_plugin_yubikey);
        assert_eq!(parsed.policies, Some((2, 2)));

        // The signature covers the TBS exactly as embedded.
        let (outer, _) = expect(&cert, SEQUENCE).expect("certificate");
        let (_, tbs_content, after) = take(outer).expect("tbs");
        let tbs_len = outer.len() - after.len();
        assert_eq!(tbs_content.len() + 4, tbs_len, "long-form length");
        let (_alg, after) = expect(after, SEQUENCE).expect("algorithm");
        let (sig_bits, _) = expect(after, BIT_STRING).expect("signature");
        let sig = Signature::from_der(&sig_bits[1..]).expect("DER signature");
        let digest = Sha256::digest(&outer[..tbs_len]);
        VerifyingKey::from(&key)
            .verify_prehash(&digest, &sig)
            .expect("verifies");
    }

    #[test]
    fn the_slot_object_wraps_the_der() {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let cert = signed(&key, time::OffsetDateTime::now_utc());
        let value = object_value(&cert);
        assert_eq!(value[0], 0x70);
        assert!(value.ends_with(&[0x71, 0x01, 0x00, 0xfe, 0x00]));
        assert_eq!(object_certificate(&value), Some(&cert[..]));
        let mut gzip = object_value(&cert);
        let n = gzip.len();
        gzip[n - 3] = 0x01;
        assert_eq!(object_certificate(&gzip), None, "compressed");
    }

    #[test]
    fn object_ids_of_slots() {
        assert_eq!(object_id(0x82), Some([0x5f, 0xc1, 0x0d]));
        assert_eq!(object_id(0x95), Some([0x5f, 0xc1, 0x20]));
        assert_eq!(object_id(0x9a), Some([0x5f, 0xc1, 0x05]));
        assert_eq!(object_id(0x9b), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert_eq!(parse_certificate(&[]), None);
        assert_eq!(parse_certificate(&[0x30, 0x82, 0xff]), None);
        assert_eq!(parse_certificate(&sequence(&[&sequence(&[])])), None);
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let cert = signed(&key, time::OffsetDateTime::now_utc());
        for cut in [1, 10, 100, cert.len() - 1] {
            assert_eq!(parse_certificate(&cert[..cut]), None, "cut at {cut}");
        }
    }
}
