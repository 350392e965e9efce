//! The OATH applet of a YubiKey (YKOATH): TOTP codes for MFA, with the
//! applet's password when it has one, and touch-required credentials.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

use super::card::{tlv, tlv_encode, Apdu, Card};
use super::HwError;

const OATH_AID: &[u8] = &[0xa0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01];
const SEND_REMAINING: u8 = 0xa5;

/// The OATH applet, selected (and unlocked when it has a password).
pub struct Oath {
    card: Card,
    salt: Vec<u8>,
    challenge: Option<Vec<u8>>,
}

/// One entry of CALCULATE ALL.
struct Entry {
    name: String,
    /// `Some(code)` when computed; `None` when it needs a touch (or is HOTP).
    code: Option<(u8, [u8; 4])>,
    touch: bool,
}

fn format_code(digits: u8, truncated: [u8; 4]) -> String {
    let value = u32::from_be_bytes(truncated) & 0x7fff_ffff;
    let modulus = 10u32.pow(u32::from(digits.clamp(6, 8)));
    format!("{:0width$}", value % modulus, width = usize::from(digits))
}

impl Oath {
    pub(crate) fn select(card: Card) -> Result<Oath, HwError> {
        let r = card.transmit(&Apdu::new(0xa4, 0x04, 0x00, OATH_AID), SEND_REMAINING)?;
        if !r.ok() {
            return Err(HwError::Status {
                what: "SELECT OATH",
                sw: r.sw,
            });
        }
        Ok(Oath {
            salt: tlv(&r.data, 0x71).unwrap_or_default().to_vec(),
            challenge: tlv(&r.data, 0x74).map(<[u8]>::to_vec),
            card,
        })
    }

    /// Whether the applet wants its password before it computes codes.
    pub fn needs_password(&self) -> bool {
        self.challenge.is_some()
    }

    /// Unlocks the applet with its password (VALIDATE, mutual).
    pub fn validate(&mut self, password: &[u8]) -> Result<(), HwError> {
        let Some(card_challenge) = self.challenge.clone() else {
            return Ok(());
        };
        let mut key = Zeroizing::new([0u8; 16]);
        pbkdf2::pbkdf2_hmac::<Sha1>(password, &self.salt, 1000, key.as_mut());
        let mac = |msg: &[u8]| -> Vec<u8> {
            let mut m = <Hmac<Sha1> as Mac>::new_from_slice(key.as_ref())
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        };
        let mut ours = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut ours);
        let mut data = Vec::new();
        tlv_encode(0x75, &mac(&card_challenge), &mut data);
        tlv_encode(0x74, &ours, &mut data);
        let r = self
            .card
            .transmit(&Apdu::new(0xa3, 0, 0, &data), SEND_REMAINING)?;
        if !r.ok() || tlv(&r.data, 0x75) != Some(mac(&ours).as_slice()) {
            return Err(HwError::OathPassword);
        }
        self.challenge = None;
        Ok(())
    }

    fn calculate_all(&self, step: u64) -> Result<Vec<Entry>, HwError> {
        let mut data = Vec::new();
        tlv_encode(0x74, &step.to_be_bytes(), &mut data);
        let r = self
            .card
            .transmit(&Apdu::new(0xa4, 0, 0x01, &data), SEND_REMAINING)?;
        if r.sw == 0x6982 {
            return Err(HwError::OathPassword);
        }
        if !r.ok() {
            return Err(HwError::Status {
                what: "CALCULATE ALL",
                sw: r.sw,
            });
        }
        let mut entries = Vec::new();
        let mut rest: &[u8] = &r.data;
        while rest.len() >= 2 {
            let name_len = usize::from(rest[1]);
            let name = rest.get(2..2 + name_len).ok_or(HwError::Status {
                what: "CALCULATE ALL",
                sw: r.sw,
            })?;
            rest = &rest[2 + name_len..];
            let (tag, len) = match rest {
                [t, l, ..] => (*t, usize::from(*l)),
                _ => break,
            };
            let value = rest.get(2..2 + len).unwrap_or_default();
            let code = (tag == 0x76 && value.len() == 5)
                .then(|| (value[0], [value[1], value[2], value[3], value[4]]));
            entries.push(Entry {
                name: String::from_utf8_lossy(name).into_owned(),
                code,
                touch: tag == 0x7c,
            });
            rest = rest.get(2 + len..).unwrap_or_default();
        }
        Ok(entries)
    }

    /// The TOTP code of the credential `name` at `unix_time`. Credentials
    /// with another period than 30 s are named `PERIOD/name` on the key.
    /// `on_touch` is called before the key waits for a touch.
    pub fn code(&self, name: &str, unix_time: u64, on_touch: &dyn Fn()) -> Result<String, HwError> {
        let entries = self.calculate_all(unix_time / 30)?;
        let entry = entries
            .iter()
            .find(|e| e.name == name)
            .or_else(|| {
                entries.iter().find(|e| {
                    e.name
                        .split_once('/')
                        .is_some_and(|(p, n)| n == name && p.parse::<u64>().is_ok())
                })
            })
            .ok_or_else(|| HwError::OathCredential {
                name: name.to_owned(),
            })?;
        let period = entry
            .name
            .split_once('/')
            .and_then(|(p, _)| p.parse::<u64>().ok())
            .filter(|p| *p > 0)
            .unwrap_or(30);
        if let (Some((digits, t)), 30) = (entry.code, period) {
            return Ok(format_code(digits, t));
        }
        if entry.touch {
            on_touch();
        }
        let mut data = Vec::new();
        tlv_encode(0x71, entry.name.as_bytes(), &mut data);
        tlv_encode(0x74, &(unix_time / period).to_be_bytes(), &mut data);
        let r = self
            .card
            .transmit(&Apdu::new(0xa2, 0, 0x01, &data), SEND_REMAINING)?;
        match r.sw {
            0x9000 => {}
            0x6985 => return Err(HwError::TouchTimeout),
            sw => {
                return Err(HwError::Status {
                    what: "CALCULATE",
                    sw,
                })
            }
        }
        let v = tlv(&r.data, 0x76)
            .filter(|v| v.len() == 5)
            .ok_or(HwError::Status {
                what: "CALCULATE",
                sw: r.sw,
            })?;
        Ok(format_code(v[0], [v[1], v[2], v[3], v[4]]))
    }
}

#[cfg(test)]
mod tests {
    use super::format_code;

    #[test]
    fn truncated_codes_are_formatted() {
        // RFC 4226 appendix D: HOTP value 1284755224 for count 0.
        assert_eq!(format_code(6, 1_284_755_224u32.to_be_bytes()), "755224");
        assert_eq!(format_code(8, 1_284_755_224u32.to_be_bytes()), "84755224");
        assert_eq!(format_code(6, 5u32.to_be_bytes()), "000005");
    }
}
