//! The PIV applet of a YubiKey: serial, PIN, the P-256 keys of the retired
//! slots, ECDH, and key generation with the management key (3DES, or
//! AES-192 as firmware 5.7+ ships it).

use zeroize::Zeroizing;

use super::card::{self, tlv, tlv_encode, Apdu, Card};
use super::HwError;

const PIV_AID: &[u8] = &[0xa0, 0x00, 0x00, 0x03, 0x08];
const GET_RESPONSE: u8 = 0xc0;
pub(super) const ALG_P256: u8 = 0x11;
const MGMT_SLOT: u8 = 0x9b;
/// The factory management key (3DES on older keys, AES-192 from 5.7 on).
pub const DEFAULT_MANAGEMENT_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

/// The retired slots, 1..=20 as age-plugin-yubikey numbers them.
pub fn retired_slot(n: u8) -> Option<u8> {
    (1..=20).contains(&n).then(|| 0x81 + n)
}

/// A YubiKey with its PIV applet selected.
pub struct YubiKey {
    card: Card,
    /// Its serial number.
    pub serial: u32,
    /// Firmware version.
    pub version: (u8, u8, u8),
}

/// PIN and touch policies of a generated key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Never.
    Never,
    /// Once per session (PIN) / cached for 15 s (touch).
    Once,
    /// Every time.
    Always,
}

impl Policy {
    pub(super) fn pin_byte(self) -> u8 {
        match self {
            Policy::Never => 1,
            Policy::Once => 2,
            Policy::Always => 3,
        }
    }

    pub(super) fn touch_byte(self) -> u8 {
        match self {
            Policy::Never => 1,
            Policy::Always => 2,
            Policy::Once => 3,
        }
    }
}

impl YubiKey {
    fn select(card: Card) -> Result<Option<YubiKey>, HwError> {
        let r = card.transmit(&Apdu::new(0xa4, 0x04, 0x00, PIV_AID), GET_RESPONSE)?;
        if !r.ok() {
            return Ok(None);
        }
        let v = card.transmit(&Apdu::new(0xfd, 0, 0, &[]), GET_RESPONSE)?;
        let s = card.transmit(&Apdu::new(0xf8, 0, 0, &[]), GET_RESPONSE)?;
        if !v.ok() || v.data.len() < 3 || !s.ok() || s.data.len() < 4 {
            // A PIV card, but not a YubiKey.
            return Ok(None);
        }
        Ok(Some(YubiKey {
            serial: u32::from_be_bytes([s.data[0], s.data[1], s.data[2], s.data[3]]),
            version: (v.data[0], v.data[1], v.data[2]),
            card,
        }))
    }

    /// Every YubiKey attached.
    pub fn all() -> Result<Vec<YubiKey>, HwError> {
        let mut keys = Vec::new();
        for card in card::connect_all()? {
            if let Some(key) = YubiKey::select(card)? {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// The YubiKey with `serial`, or the only one when `serial` is `None`.
    pub fn open(serial: Option<u32>) -> Result<YubiKey, HwError> {
        let mut keys = YubiKey::all()?;
        match serial {
            Some(s) => {
                let i = keys
                    .iter()
                    .position(|k| k.serial == s)
                    .ok_or(HwError::NotFound { serial: s })?;
                Ok(keys.swap_remove(i))
            }
            None => match keys.len() {
                0 => Err(HwError::NoYubiKey),
                1 => Ok(keys.remove(0)),
                _ => Err(HwError::Several {
                    serials: keys.iter().map(|k| k.serial).collect(),
                }),
            },
        }
    }

    pub(crate) fn into_card(self) -> Card {
        self.card
    }

    pub(super) fn send(&self, apdu: &Apdu) -> Result<card::Response, HwError> {
        self.card.transmit(apdu, GET_RESPONSE)
    }

    /// PIN tries left, or 0 when blocked; `None` when already verified.
    pub fn pin_retries(&self) -> Result<Option<u8>, HwError> {
        let r = self.send(&Apdu::new(0x20, 0, 0x80, &[]))?;
        match r.sw {
            0x9000 => Ok(None),
            0x6983 => Ok(Some(0)),
            sw if sw & 0xfff0 == 0x63c0 => Ok(Some((sw & 0x0f) as u8)),
            sw => Err(HwError::Status {
                what: "PIN status",
                sw,
            }),
        }
    }

    /// Verifies the PIN (6 to 8 characters).
    pub fn verify_pin(&self, pin: &[u8]) -> Result<(), HwError> {
        if !(6..=8).contains(&pin.len()) {
            return Err(HwError::PinFormat);
        }
        let mut padded = Zeroizing::new([0xffu8; 8]);
        padded[..pin.len()].copy_from_slice(pin);
        let r = self.send(&Apdu::new(0x20, 0, 0x80, padded.as_ref()))?;
        match r.sw {
            0x9000 => Ok(()),
            0x6983 => Err(HwError::PinBlocked),
            sw if sw & 0xfff0 == 0x63c0 => {
                let left = (sw & 0x0f) as u8;
                if left == 0 {
                    Err(HwError::PinBlocked)
                } else {
                    Err(HwError::WrongPin { retries: left })
                }
            }
            sw => Err(HwError::Status {
                what: "VERIFY PIN",
                sw,
            }),
        }
    }

    /// The public key in `slot` (SEC1, uncompressed) and whether using it
    /// needs a touch; `None` when the slot is empty. Reads the slot's
    /// metadata (firmware 5.3+); before 5.3, which has no GET METADATA, the
    /// slot's certificate ([`YubiKey::slot_key_from_certificate`]).
    pub fn slot_key(&self, slot: u8) -> Result<Option<(Vec<u8>, bool)>, HwError> {
        if self.version < (5, 3, 0) {
            return self.slot_key_from_certificate(slot);
        }
        let r = self.send(&Apdu::new(0xf7, 0, slot, &[]))?;
        match r.sw {
            0x9000 => {}
            0x6a82 | 0x6a88 => return Ok(None),
            // INS not supported: firmware that does not say it is old.
            0x6d00 => return self.slot_key_from_certificate(slot),
            sw => {
                return Err(HwError::Status {
                    what: "GET METADATA",
                    sw,
                })
            }
        }
        if tlv(&r.data, 0x01) != Some(&[ALG_P256][..]) {
            return Ok(None);
        }
        let touch = tlv(&r.data, 0x02)
            .and_then(|p| p.get(1))
            .is_some_and(|t| *t == 2 || *t == 3);
        let point = tlv(&r.data, 0x04)
            .and_then(|pk| tlv(pk, 0x86))
            .ok_or(HwError::Status {
                what: "GET METADATA",
                sw: r.sw,
            })?;
        Ok(Some((point.to_vec(), touch)))
    }

    /// The public key in `slot` as its certificate gives it (the way
    /// age-plugin-yubikey finds its keys), and whether the certificate's
    /// policy extension asks for a touch (false when it has none); `None`
    /// when there is no certificate or its key is not P-256. The card is
    /// not asked whether the key is still the certificate's: a stale one
    /// fails at ECDH.
    pub fn slot_key_from_certificate(&self, slot: u8) -> Result<Option<(Vec<u8>, bool)>, HwError> {
        let Some(cert) = self.slot_certificate(slot)? else {
            return Ok(None);
        };
        let touch = cert
            .policies
            .is_some_and(|(_, touch)| touch == 2 || touch == 3);
        Ok(cert.point.map(|point| (point, touch)))
    }

    /// One private-key operation of the card (GENERAL AUTHENTICATE with
    /// the key in `slot`): `input` under tag `input_tag` (0x85 ECDH peer,
    /// 0x81 digest to sign), the card's answer under tag 0x82.
    pub(crate) fn key_operation(
        &self,
        slot: u8,
        input_tag: u8,
        input: &[u8],
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, HwError> {
        let mut inner = vec![0x82, 0x00];
        tlv_encode(input_tag, input, &mut inner);
        let mut data = Vec::new();
        tlv_encode(0x7c, &inner, &mut data);
        let r = self.send(&Apdu::new(0x87, ALG_P256, slot, &data))?;
        match r.sw {
            0x9000 => {}
            0x6982 => return Err(HwError::PinRequired),
            0x6a80 | 0x6a82 => return Err(HwError::SlotEmpty { slot }),
            sw => return Err(HwError::Status { what, sw }),
        }
        tlv(&r.data, 0x7c)
            .and_then(|inner| tlv(inner, 0x82))
            .map(|v| Zeroizing::new(v.to_vec()))
            .ok_or(HwError::Status { what, sw: r.sw })
    }

    /// ECDH of the key in `slot` with `peer` (SEC1 uncompressed): the
    /// shared x-coordinate.
    pub fn ecdh(&self, slot: u8, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, HwError> {
        const WHAT: &str = "GENERAL AUTHENTICATE";
        let x = self.key_operation(slot, 0x85, peer, WHAT)?;
        if x.len() != 32 {
            return Err(HwError::Status {
                what: WHAT,
                sw: 0x9000,
            });
        }
        Ok(x)
    }

    /// Authenticates with the management key (mutual), 3DES or AES-192 as
    /// the key's metadata says (3DES when there is no metadata: before 5.3).
    pub fn authenticate(&self, key: &[u8; 24]) -> Result<(), HwError> {
        let alg = match self.send(&Apdu::new(0xf7, 0, MGMT_SLOT, &[]))? {
            r if r.ok() => tlv(&r.data, 0x01)
                .and_then(|a| a.first().copied())
                .unwrap_or(0x03),
            _ => 0x03,
        };
        let cipher = super::mgmt::BlockCipher::new(alg, key)?;
        let block = cipher.block_len();
        let witness_req = [0x7c, 0x02, 0x80, 0x00];
        let r = self.send(&Apdu::new(0x87, alg, MGMT_SLOT, &witness_req))?;
        let witness = tlv(&r.data, 0x7c)
            .and_then(|i| tlv(i, 0x80))
            .filter(|w| r.ok() && w.len() == block)
            .ok_or(HwError::Status {
                what: "management key witness",
                sw: r.sw,
            })?;
        let decrypted = cipher.decrypt(witness);
        let mut challenge = vec![0u8; block];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut challenge);
        let mut inner = Vec::new();
        tlv_encode(0x80, &decrypted, &mut inner);
        tlv_encode(0x81, &challenge, &mut inner);
        let mut data = Vec::new();
        tlv_encode(0x7c, &inner, &mut data);
        let r = self.send(&Apdu::new(0x87, alg, MGMT_SLOT, &data))?;
        if r.sw == 0x6982 {
            return Err(HwError::ManagementKey);
        }
        let answer = tlv(&r.data, 0x7c)
            .and_then(|i| tlv(i, 0x82))
            .ok_or(HwError::ManagementKey)?;
        if answer != cipher.encrypt(&challenge).as_slice() {
            return Err(HwError::ManagementKey);
        }
        Ok(())
    }

    /// Generates a P-256 key in `slot` (management key authenticated
    /// first); returns its public key (SEC1 uncompressed).
    pub fn generate(&self, slot: u8, pin: Policy, touch: Policy) -> Result<Vec<u8>, HwError> {
        let mut inner = vec![0x80, 0x01, ALG_P256];
        inner.extend_from_slice(&[0xaa, 0x01, pin.pin_byte(), 0xab, 0x01, touch.touch_byte()]);
        let mut data = Vec::new();
        tlv_encode(0xac, &inner, &mut data);
        let r = self.send(&Apdu::new(0x47, 0, slot, &data))?;
        if r.sw == 0x6982 {
            return Err(HwError::ManagementKey);
        }
        if !r.ok() {
            return Err(HwError::Status {
                what: "GENERATE",
                sw: r.sw,
            });
        }
        // 7F49 is a two-byte tag: skip it and its length, then find 86.
        let body = r.data.get(2..).unwrap_or_default();
        let body = match body.first() {
            Some(0x81) => body.get(2..),
            Some(0x82) => body.get(3..),
            _ => body.get(1..),
        }
        .unwrap_or_default();
        tlv(body, 0x86).map(<[u8]>::to_vec).ok_or(HwError::Status {
            what: "GENERATE",
            sw: r.sw,
        })
    }
}
