//! One smart card over PC/SC: APDUs out, responses back, with the
//! continuations (`61xx`) collected. The only place that talks to pcscd.

use std::ffi::CString;
use std::fmt;

use zeroize::Zeroizing;

use super::HwError;

/// A command APDU. Its `Debug` never shows the data (it may hold a PIN).
pub(crate) struct Apdu {
    pub(crate) cla: u8,
    pub(crate) ins: u8,
    pub(crate) p1: u8,
    pub(crate) p2: u8,
    pub(crate) data: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Apdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Apdu({:02x} {:02x} {:02x} {:02x}, {} bytes)",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len()
        )
    }
}

impl Apdu {
    /// An APDU with data.
    pub(crate) fn new(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Apdu {
        Apdu {
            cla: 0,
            ins,
            p1,
            p2,
            data: Zeroizing::new(data.to_vec()),
        }
    }
}

/// A response: data and status word.
pub(crate) struct Response {
    pub(crate) data: Zeroizing<Vec<u8>>,
    pub(crate) sw: u16,
}

impl Response {
    pub(crate) fn ok(&self) -> bool {
        self.sw == 0x9000
    }
}

/// A connected card.
pub(crate) struct Card {
    card: pcsc::Card,
}

/// Maps PC/SC errors to what a user can act on.
pub(crate) fn pcsc_error(e: pcsc::Error) -> HwError {
    match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => HwError::NoPcscd,
        pcsc::Error::NoReadersAvailable | pcsc::Error::NoSmartcard => HwError::NoYubiKey,
        pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::ReaderUnavailable => {
            HwError::Removed
        }
        other => HwError::Pcsc(other.to_string()),
    }
}

/// Every reader with a card in it, connected.
pub(crate) fn connect_all() -> Result<Vec<Card>, HwError> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(pcsc_error)?;
    let readers: Vec<CString> = match ctx.list_readers_owned() {
        Ok(r) => r,
        Err(pcsc::Error::NoReadersAvailable) => return Err(HwError::NoYubiKey),
        Err(e) => return Err(pcsc_error(e)),
    };
    let mut cards = Vec::new();
    for reader in readers {
        match ctx.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
            Ok(card) => cards.push(Card { card }),
            Err(pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard) => continue,
            Err(e) => return Err(pcsc_error(e)),
        }
    }
    Ok(cards)
}

impl Card {
    fn raw(&self, bytes: &[u8]) -> Result<Response, HwError> {
        let mut buf = Zeroizing::new(vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED]);
        let answer = self.card.transmit(bytes, &mut buf).map_err(pcsc_error)?;
        if answer.len() < 2 {
            // No status word: the card vanished mid-command (a vpcd reader
            // answers so; a USB reader reports SCARD_W_REMOVED_CARD).
            return Err(HwError::Removed);
        }
        let (data, sw) = answer.split_at(answer.len() - 2);
        Ok(Response {
            data: Zeroizing::new(data.to_vec()),
            sw: u16::from_be_bytes([sw[0], sw[1]]),
        })
    }

    /// Sends `apdu` (chained in 255-byte pieces when longer) and collects
    /// `61xx` continuations with `more_ins` (GET RESPONSE 0xC0 for PIV,
    /// SEND REMAINING 0xA5 for OATH).
    pub(crate) fn transmit(&self, apdu: &Apdu, more_ins: u8) -> Result<Response, HwError> {
        let chunks: Vec<&[u8]> = if apdu.data.is_empty() {
            vec![&[][..]]
        } else {
            apdu.data.chunks(255).collect()
        };
        let mut response = None;
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let mut bytes = Zeroizing::new(Vec::with_capacity(chunk.len() + 6));
            bytes.extend_from_slice(&[
                if last { apdu.cla } else { apdu.cla | 0x10 },
                apdu.ins,
                apdu.p1,
                apdu.p2,
            ]);
            if !chunk.is_empty() {
                bytes.push(chunk.len() as u8);
                bytes.extend_from_slice(chunk);
            }
            let r = self.raw(&bytes)?;
            if !last && !r.ok() {
                return Ok(r);
            }
            response = Some(r);
        }
        let mut response = response.ok_or_else(|| HwError::Pcsc("nothing was sent".into()))?;
        let mut data = Zeroizing::new(response.data.to_vec());
        while response.sw >> 8 == 0x61 {
            response = self.raw(&[0, more_ins, 0, 0])?;
            data.extend_from_slice(&response.data);
        }
        Ok(Response {
            data,
            sw: response.sw,
        })
    }
}

/// Finds the value of `tag` in simple BER-TLV `data` (one-byte tags; short
/// and 0x81/0x82 long lengths).
pub(crate) fn tlv(data: &[u8], tag: u8) -> Option<&[u8]> {
    let mut i = 0;
    while i + 1 < data.len() {
        let t = data[i];
        let (len, head) = match data[i + 1] {
            0x81 => (usize::from(*data.get(i + 2)?), 3),
            0x82 => (
                usize::from(u16::from_be_bytes([*data.get(i + 2)?, *data.get(i + 3)?])),
                4,
            ),
            l if l < 0x80 => (usize::from(l), 2),
            _ => return None,
        };
        let value = data.get(i + head..i + head + len)?;
        if t == tag {
            return Some(value);
        }
        i += head + len;
    }
    None
}

/// Encodes one TLV with a short or long length.
pub(crate) fn tlv_encode(tag: u8, value: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    match value.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xff => out.extend_from_slice(&[0x81, n as u8]),
        n => {
            out.push(0x82);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_round_trip() {
        let mut out = Vec::new();
        tlv_encode(0x71, b"name", &mut out);
        tlv_encode(0x74, &[0u8; 200], &mut out);
        assert_eq!(tlv(&out, 0x71), Some(&b"name"[..]));
        assert_eq!(tlv(&out, 0x74).map(<[u8]>::len), Some(200));
        assert_eq!(tlv(&out, 0x75), None);
        assert_eq!(tlv(&[0x71, 0x05, 1], 0x71), None, "truncated");
    }

    #[test]
    fn apdu_debug_hides_data() {
        let a = Apdu::new(0x20, 0, 0x80, b"123456\xff\xff");
        assert!(!format!("{a:?}").contains("123456"));
    }
}
