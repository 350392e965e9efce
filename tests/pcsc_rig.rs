//! The PC/SC rig proves itself: the virtual YubiKey of tests/support/vyubikey.rs
//! in the vpcd reader of scripts/pcsc-rig's private pcscd, reached only
//! through the real pcscd with the `pcsc` crate (libpcsclite), the way avault
//! and the `yubikey` crate reach a real key.
//!
//! The tests that need the rig are ignored in a plain `cargo test`; the others
//! check the card's logic without a reader (known answers of RFC 4226/6238/6070,
//! the ATR).

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use p256::elliptic_curve::sec1::ToEncodedPoint;
use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

#[path = "support/vyubikey.rs"]
mod vyubikey;

use vyubikey::{
    parse_tlvs, tlv, Card, Config, ManagementKey, OathAlgorithm, OathCredential, PinPolicy, PivKey,
    RemoveOn, Touch, TouchPolicy, VirtualYubiKey, ATR, DEFAULT_MANAGEMENT_KEY, OATH_AID, PIV_AID,
};

// RFC 6238 appendix B seeds and the codes at T = 59 s (8 digits, 30 s step).
const SEED_SHA1: &[u8] = b"12345678901234567890";
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

// ---------------------------------------------------------------------------
// Client side helpers: plain PC/SC.

fn context() -> Context {
    vyubikey::pcscd_socket(); // a clear message when the rig is not set up
    Context::establish(Scope::User).expect("connect to the private pcscd at PCSCLITE_CSOCK_NAME")
}

/// The vpcd readers, slot 0 first.
fn vpcd_readers(ctx: &Context) -> Vec<CString> {
    let mut readers: Vec<CString> = ctx
        .list_readers_owned()
        .expect("list readers")
        .into_iter()
        .filter(|r| r.to_string_lossy().starts_with("Virtual PCD"))
        .collect();
    readers.sort();
    readers
}

fn reader(ctx: &Context, slot: usize) -> CString {
    vpcd_readers(ctx)
        .get(slot)
        .cloned()
        .unwrap_or_else(|| panic!("no vpcd reader for slot {slot}"))
}

/// Waits until the reader's state has all of `want`.
fn wait_state(ctx: &Context, reader: &CStr, want: State, timeout: Duration) -> ReaderState {
    let deadline = Instant::now() + timeout;
    let mut states = [ReaderState::new(reader.to_owned(), State::UNAWARE)];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => panic!(
                "{} did not reach {want:?} within {timeout:?}: {:?}",
                reader.to_string_lossy(),
                states[0].event_state()
            ),
            Err(e) => panic!("get_status_change: {e}"),
        }
        if states[0].event_state().contains(want) {
            let [state] = states;
            return state;
        }
        states[0].sync_current_state();
    }
}

fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00, ins, p1, p2];
    if !data.is_empty() {
        out.push(u8::try_from(data.len()).expect("short APDU"));
        out.extend_from_slice(data);
    }
    out
}

struct Conn {
    card: pcsc::Card,
}

impl Conn {
    fn connect(ctx: &Context, reader: &CStr) -> Conn {
        let card = ctx
            .connect(reader, ShareMode::Shared, Protocols::T1)
            .expect("connect to the card with T=1");
        Conn { card }
    }

    /// One APDU: (data, status word).
    fn send(&self, apdu: &[u8]) -> (Vec<u8>, u16) {
        self.try_send(apdu).expect("transmit")
    }

    fn try_send(&self, apdu: &[u8]) -> Result<(Vec<u8>, u16), pcsc::Error> {
        let raw = self.transmit(apdu)?;
        assert!(raw.len() >= 2, "response without status word: {raw:02X?}");
        let (data, sw) = raw.split_at(raw.len() - 2);
        Ok((data.to_vec(), u16::from_be_bytes([sw[0], sw[1]])))
    }

    /// The raw response, status word included.
    fn transmit(&self, apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
        let mut buffer = [0u8; 4096];
        Ok(self.card.transmit(apdu, &mut buffer)?.to_vec())
    }

    /// An APDU and, while the card says 61xx, GET RESPONSE (`more_ins`: 0xC0
    /// for PIV, 0xA5 SEND REMAINING for OATH).
    fn send_all(&self, apdu: &[u8], more_ins: u8) -> (Vec<u8>, u16, usize) {
        let (mut data, mut sw) = self.send(apdu);
        let mut rounds = 1;
        while sw >> 8 == 0x61 {
            let (more, next) = self.send(&[0x00, more_ins, 0x00, 0x00]);
            data.extend(more);
            sw = next;
            rounds += 1;
        }
        (data, sw, rounds)
    }

    fn select(&self, aid: &[u8]) -> Vec<u8> {
        let (data, sw) = self.send(&apdu(0xA4, 0x04, 0x00, aid));
        assert_eq!(sw, 0x9000, "SELECT {aid:02X?}");
        data
    }

    fn verify_pin(&self, pin: &str) -> u16 {
        let mut field = pin.as_bytes().to_vec();
        field.resize(8, 0xFF);
        self.send(&apdu(0x20, 0x00, 0x80, &field)).1
    }

    /// Mutual authentication with the management key.
    fn authenticate(&self, key: &ManagementKey) {
        let alg = key.algorithm();
        let (data, sw) = self.send(&apdu(0x87, alg, 0x9B, &tlv(&[0x7C], &tlv(&[0x80], &[]))));
        assert_eq!(sw, 0x9000, "witness request");
        let witness = inner(&data, 0x7C, 0x80);
        let challenge = vec![0x5A; key.block_len()];
        let body = [
            tlv(&[0x80], &key.decrypt(&witness)),
            tlv(&[0x81], &challenge),
        ]
        .concat();
        let (data, sw) = self.send(&apdu(0x87, alg, 0x9B, &tlv(&[0x7C], &body)));
        assert_eq!(sw, 0x9000, "witness response");
        assert_eq!(
            inner(&data, 0x7C, 0x82),
            key.encrypt(&challenge),
            "card's answer to our challenge"
        );
    }
}

/// The value of `tag` inside the value of `outer`.
fn inner(data: &[u8], outer: u8, tag: u8) -> Vec<u8> {
    let outer_tlvs = parse_tlvs(data).expect("TLV");
    let (_, value) = outer_tlvs
        .iter()
        .find(|(t, _)| *t == outer)
        .expect("outer tag");
    let inner_tlvs = parse_tlvs(value).expect("inner TLV");
    inner_tlvs
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.to_vec())
        .expect("inner tag")
}

fn oath_put(conn: &Conn, name: &str, type_byte: u8, digits: u8, secret: &[u8], touch: bool) -> u16 {
    let mut key = vec![type_byte, digits];
    key.extend_from_slice(secret);
    let mut data = [tlv(&[0x71], name.as_bytes()), tlv(&[0x73], &key)].concat();
    if touch {
        data.extend([0x78, 0x02]);
    }
    conn.send(&apdu(0x01, 0x00, 0x00, &data)).1
}

/// CALCULATE, truncated: (status, code as digits).
fn oath_calculate(conn: &Conn, name: &str, step: u64) -> (u16, Option<String>) {
    let data = [
        tlv(&[0x71], name.as_bytes()),
        tlv(&[0x74], &step.to_be_bytes()),
    ]
    .concat();
    let (answer, sw) = conn.send(&apdu(0xA2, 0x00, 0x01, &data));
    if sw != 0x9000 {
        return (sw, None);
    }
    let tlvs = parse_tlvs(&answer).expect("TLV");
    let (tag, value) = tlvs[0];
    assert_eq!(tag, 0x76, "truncated response");
    let digits = u32::from(value[0]);
    let number = u32::from_be_bytes(value[1..5].try_into().expect("4 bytes")) & 0x7FFF_FFFF;
    (
        sw,
        Some(format!(
            "{:0width$}",
            number % 10u32.pow(digits),
            width = digits as usize
        )),
    )
}

// ---------------------------------------------------------------------------
// Without the rig: the card's logic.

#[test]
fn atr_advertises_t1_and_has_a_valid_check_byte() {
    // TD1 and TD2 say T=1; with T=1 present the TCK (last byte) makes the XOR
    // of T0..TCK zero.
    assert_eq!(ATR[5] & 0x0F, 1);
    assert_eq!(ATR[6] & 0x0F, 1);
    assert_eq!(ATR[1..].iter().fold(0u8, |x, b| x ^ b), 0);
    assert!(ATR.ends_with(b"YubiKey\x40"));
}

#[test]
fn hotp_and_totp_known_answers() {
    // RFC 4226 appendix D.
    let expected = ["755224", "287082", "359152", "969429", "338314"];
    for (counter, code) in expected.iter().enumerate() {
        assert_eq!(
            vyubikey::hotp(OathAlgorithm::Sha1, SEED_SHA1, counter as u64, 6),
            *code
        );
    }
    // RFC 6238 appendix B, T = 59 s.
    assert_eq!(
        vyubikey::hotp(OathAlgorithm::Sha1, SEED_SHA1, 1, 8),
        "94287082"
    );
    assert_eq!(
        vyubikey::hotp(OathAlgorithm::Sha256, SEED_SHA256, 1, 8),
        "46119246"
    );
    assert_eq!(
        vyubikey::hotp(OathAlgorithm::Sha512, SEED_SHA512, 1, 8),
        "90693936"
    );
    // T = 1111111109 s.
    assert_eq!(
        vyubikey::hotp(OathAlgorithm::Sha1, SEED_SHA1, 1111111109 / 30, 8),
        "07081804"
    );
}

#[test]
fn oath_access_key_is_pbkdf2_sha1_1000_rounds() {
    // RFC 6070 pins the algorithm; 1000 rounds and 16 bytes are YKOATH's.
    assert_eq!(
        vyubikey::pbkdf2_sha1(b"password", b"salt", 2, 20),
        [
            0xea, 0x6c, 0x01, 0x4d, 0xc7, 0x2d, 0x6f, 0x8c, 0xcd, 0x1e, 0xd9, 0x2a, 0xce, 0x1d,
            0x41, 0xf0, 0xd8, 0xde, 0x89, 0x57
        ]
    );
    assert_eq!(
        vyubikey::pbkdf2_sha1(b"password", b"salt", 4096, 20),
        [
            0x4b, 0x00, 0x79, 0x01, 0xb7, 0x65, 0x48, 0x9a, 0xbe, 0xad, 0x49, 0xd9, 0x26, 0xf7,
            0x21, 0xd0, 0x65, 0xa4, 0x29, 0xc1
        ]
    );
    assert_eq!(
        vyubikey::oath_access_key(b"saltsalt", "pw"),
        vyubikey::pbkdf2_sha1(b"pw", b"saltsalt", 1000, 16)
    );
}

#[test]
fn card_without_reader_counts_pin_tries_and_blocks() {
    let mut card = Card::new(Config::new());
    let select = apdu(0xA4, 0x04, 0x00, &PIV_AID);
    assert_eq!(card.transmit(&select)[..2], [0x61, 0x11]);
    let verify = |pin: &[u8]| {
        let mut field = pin.to_vec();
        field.resize(8, 0xFF);
        apdu(0x20, 0x00, 0x80, &field)
    };
    assert_eq!(card.transmit(&apdu(0x20, 0x00, 0x80, &[])), [0x63, 0xC3]);
    assert_eq!(card.transmit(&verify(b"000000")), [0x63, 0xC2]);
    assert_eq!(card.transmit(&verify(b"123456")), [0x90, 0x00]);
    assert_eq!(card.transmit(&apdu(0x20, 0x00, 0x80, &[])), [0x90, 0x00]);
    for left in [2u8, 1, 0] {
        assert_eq!(card.transmit(&verify(b"000000")), [0x63, 0xC0 | left]);
    }
    assert_eq!(card.transmit(&verify(b"123456")), [0x69, 0x83]);
    assert_eq!(card.transmit(&apdu(0x20, 0x00, 0x80, &[])), [0x69, 0x83]);
    assert_eq!(card.counters().last_pin_tries, Some(0));
    // Reset with the PUK.
    let mut unblock = b"12345678".to_vec();
    unblock.extend(b"654321\xff\xff");
    assert_eq!(
        card.transmit(&apdu(0x2C, 0x00, 0x80, &unblock)),
        [0x90, 0x00]
    );
    assert_eq!(card.transmit(&verify(b"654321")), [0x90, 0x00]);
}

#[test]
fn card_without_reader_chains_commands_and_answers() {
    let mut card = Card::new(Config::new().response_chunk(100));
    card.transmit(&apdu(0xA4, 0x04, 0x00, &PIV_AID));
    // PUT DATA needs the management key: one-way authentication this time.
    let key = ManagementKey::TripleDes(DEFAULT_MANAGEMENT_KEY);
    let answer = card.transmit(&apdu(0x87, 0x03, 0x9B, &tlv(&[0x7C], &tlv(&[0x81], &[]))));
    let challenge = inner(&answer[..answer.len() - 2], 0x7C, 0x81);
    let response = tlv(&[0x7C], &tlv(&[0x82], &key.encrypt(&challenge)));
    assert_eq!(
        card.transmit(&apdu(0x87, 0x03, 0x9B, &response)),
        [0x90, 0x00]
    );

    let object: Vec<u8> = (0..600u16).map(|i| i as u8).collect();
    let body = [tlv(&[0x5C], &[0x5F, 0xC1, 0x0D]), tlv(&[0x53], &object)].concat();
    let chunks: Vec<&[u8]> = body.chunks(255).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let mut command = apdu(0xDB, 0x3F, 0xFF, chunk);
        if i + 1 < chunks.len() {
            command[0] = 0x10;
        }
        assert_eq!(card.transmit(&command), [0x90, 0x00], "chunk {i}");
    }
    let mut answer = card.transmit(&apdu(0xCB, 0x3F, 0xFF, &tlv(&[0x5C], &[0x5F, 0xC1, 0x0D])));
    let mut data = Vec::new();
    while answer[answer.len() - 2] == 0x61 {
        data.extend_from_slice(&answer[..answer.len() - 2]);
        answer = card.transmit(&[0x00, 0xC0, 0x00, 0x00, 0x00]);
    }
    assert_eq!(answer[answer.len() - 2..], [0x90, 0x00]);
    data.extend_from_slice(&answer[..answer.len() - 2]);
    assert_eq!(data, tlv(&[0x53], &object));
}

// ---------------------------------------------------------------------------
// Through the real pcscd.

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn vpcd_readers_appear_in_the_private_pcscd() {
    let ctx = context();
    let readers = vpcd_readers(&ctx);
    assert_eq!(readers.len(), 2, "vpcd has two slots: {readers:?}");
    assert!(
        readers[0].to_string_lossy().ends_with(" 00 00"),
        "{readers:?}"
    );
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn inserted_card_is_present_and_its_atr_readable() {
    let _rig = vyubikey::lock_rig();
    let ctx = context();
    let name = reader(&ctx, 0);
    wait_state(&ctx, &name, State::EMPTY, Duration::from_secs(5));

    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new());
    let state = wait_state(&ctx, &name, State::PRESENT, Duration::from_secs(5));
    assert_eq!(state.atr(), ATR);

    let conn = Conn::connect(&ctx, &name);
    let status = conn.card.status2_owned().expect("status");
    assert_eq!(status.atr(), ATR);
    assert_eq!(status.protocol2(), Some(pcsc::Protocol::T1));
    assert!(card.counters().atr_requests >= 2);
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn piv_select_version_serial_and_pin_round_trip() {
    let card = VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        Config::new().serial(7_654_321).pin("246810"),
    );
    let ctx = context();
    let conn = Conn::connect(&ctx, &reader(&ctx, 0));

    let template = conn.select(&PIV_AID);
    assert_eq!(template[0], 0x61, "application property template");
    assert_eq!(conn.send(&apdu(0xFD, 0, 0, &[])), (vec![5, 4, 3], 0x9000));
    let (serial, sw) = conn.send(&apdu(0xF8, 0, 0, &[]));
    assert_eq!(
        (u32::from_be_bytes(serial.try_into().expect("4 bytes")), sw),
        (7_654_321, 0x9000)
    );

    assert_eq!(
        conn.send(&apdu(0x20, 0x00, 0x80, &[])).1,
        0x63C3,
        "query: 3 tries"
    );
    assert_eq!(
        conn.verify_pin("123456"),
        0x63C2,
        "the factory PIN is not this card's"
    );
    assert_eq!(card.counters().last_pin_tries, Some(2));
    assert_eq!(conn.verify_pin("246810"), 0x9000);
    assert_eq!(
        conn.send(&apdu(0x20, 0x00, 0x80, &[])).1,
        0x9000,
        "query: verified"
    );
    assert_eq!(conn.verify_pin("000000"), 0x63C2);
    assert_eq!(conn.verify_pin("000000"), 0x63C1);
    assert_eq!(conn.verify_pin("000000"), 0x63C0);
    assert_eq!(conn.verify_pin("246810"), 0x6983, "blocked");
    assert_eq!(conn.send(&apdu(0x20, 0x00, 0x80, &[])).1, 0x6983);
    let counters = card.counters();
    assert_eq!((counters.verify_pin_ok, counters.verify_pin_wrong), (1, 4));
    assert_eq!(counters.last_pin_tries, Some(0));
    assert_eq!(card.pin_tries_left(), 0);

    // Metadata (firmware >= 5.3): PIN not default, 3 tries, none left.
    let (meta, sw) = conn.send(&apdu(0xF7, 0x00, 0x80, &[]));
    assert_eq!(sw, 0x9000);
    let tlvs = parse_tlvs(&meta).expect("metadata TLV");
    assert!(
        tlvs.contains(&(0x05, &[0][..])) && tlvs.contains(&(0x06, &[3, 0][..])),
        "{tlvs:02X?}"
    );
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn piv_ecdh_through_pcscd_matches_software_ecdh() {
    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new());
    let ctx = context();
    let conn = Conn::connect(&ctx, &reader(&ctx, 0));
    conn.select(&PIV_AID);

    let generate = apdu(
        0x47,
        0x00,
        0x82,
        &tlv(
            &[0xAC],
            &[0x80, 0x01, 0x11, 0xAA, 0x01, 0x02, 0xAB, 0x01, 0x01],
        ),
    );
    assert_eq!(
        conn.send(&generate).1,
        0x6982,
        "GENERATE needs the management key"
    );
    conn.authenticate(&ManagementKey::TripleDes(DEFAULT_MANAGEMENT_KEY));
    let (answer, sw) = conn.send(&generate);
    assert_eq!(sw, 0x9000);
    assert_eq!(answer[..5], [0x7F, 0x49, 0x43, 0x86, 0x41]);
    let public = p256::PublicKey::from_sec1_bytes(&answer[5..]).expect("P-256 point");
    assert_eq!(card.piv_public_key(0x82), Some(public));

    let ephemeral = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let point = ephemeral.public_key().to_encoded_point(false);
    let body = [tlv(&[0x82], &[]), tlv(&[0x85], point.as_bytes())].concat();
    let decrypt = apdu(0x87, 0x11, 0x82, &tlv(&[0x7C], &body));
    assert_eq!(conn.send(&decrypt).1, 0x6982, "PIN policy once: PIN first");
    assert_eq!(conn.verify_pin("123456"), 0x9000);
    let (answer, sw) = conn.send(&decrypt);
    assert_eq!(sw, 0x9000);
    let x = inner(&answer, 0x7C, 0x82);
    let expected = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), public.as_affine());
    assert_eq!(x, expected.raw_secret_bytes().to_vec());
    assert_eq!(
        conn.send(&decrypt).1,
        0x9000,
        "once: the PIN stays verified"
    );

    // Metadata of the slot: P-256, PIN once, touch never, generated, the point.
    let (meta, sw) = conn.send(&apdu(0xF7, 0x00, 0x82, &[]));
    assert_eq!(sw, 0x9000);
    let tlvs = parse_tlvs(&meta).expect("metadata TLV");
    assert!(
        tlvs.contains(&(0x01, &[0x11][..])) && tlvs.contains(&(0x02, &[2, 1][..])),
        "{tlvs:02X?}"
    );
    assert!(tlvs.contains(&(0x03, &[1][..])));

    let counters = card.counters();
    assert_eq!(
        (
            counters.ecdh,
            counters.generate,
            counters.management_auth_ok
        ),
        (2, 1, 1)
    );
    assert_eq!(
        counters.general_authenticate,
        2 + 3,
        "two management steps, three decryptions"
    );
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn firmware_5_7_has_an_aes192_management_key_and_touch_is_simulated() {
    let key = touch_key();
    let card = VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        Config::new()
            .firmware(5, 7, 1)
            .touch(Touch::Manual)
            .piv_key(0x83, key.clone()),
    );
    let ctx = context();
    let conn = Conn::connect(&ctx, &reader(&ctx, 0));
    conn.select(&PIV_AID);
    assert_eq!(conn.send(&apdu(0xFD, 0, 0, &[])).0, [5, 7, 1]);

    // The 3DES algorithm id is refused; the metadata says AES-192, default.
    let witness = apdu(0x87, 0x03, 0x9B, &tlv(&[0x7C], &tlv(&[0x80], &[])));
    assert_eq!(conn.send(&witness).1, 0x6A80);
    let (meta, _) = conn.send(&apdu(0xF7, 0x00, 0x9B, &[]));
    let tlvs = parse_tlvs(&meta).expect("metadata TLV");
    assert!(
        tlvs.contains(&(0x01, &[0x0A][..])) && tlvs.contains(&(0x05, &[1][..])),
        "{tlvs:02X?}"
    );
    conn.authenticate(&ManagementKey::Aes192(DEFAULT_MANAGEMENT_KEY));

    // Touch policy always, PIN never: the card waits for the touch.
    let peer = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let body = [
        tlv(&[0x82], &[]),
        tlv(
            &[0x85],
            peer.public_key().to_encoded_point(false).as_bytes(),
        ),
    ]
    .concat();
    let decrypt = apdu(0x87, 0x11, 0x83, &tlv(&[0x7C], &body));
    let answer = std::thread::scope(|s| {
        let pending = s.spawn(|| conn.send(&decrypt));
        assert!(card.touch(), "the card asked for a touch");
        pending.join().expect("transmit thread")
    });
    assert_eq!(answer.1, 0x9000);
    let expected =
        p256::ecdh::diffie_hellman(peer.to_nonzero_scalar(), key.public_key().as_affine());
    assert_eq!(
        inner(&answer.0, 0x7C, 0x82),
        expected.raw_secret_bytes().to_vec()
    );
    let counters = card.counters();
    assert_eq!((counters.touch_requests, counters.touches), (1, 1));
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn oath_put_and_calculate_give_the_rfc6238_codes() {
    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new());
    let ctx = context();
    let conn = Conn::connect(&ctx, &reader(&ctx, 0));
    let select = conn.select(&OATH_AID);
    let tlvs = parse_tlvs(&select).expect("SELECT TLV");
    assert!(
        tlvs.contains(&(0x79, &[5, 4, 3][..])),
        "version in the SELECT answer"
    );
    assert!(
        !tlvs.iter().any(|(t, _)| *t == 0x74),
        "no challenge without a password"
    );

    assert_eq!(
        oath_put(&conn, "rfc6238-sha1", 0x21, 8, SEED_SHA1, false),
        0x9000
    );
    assert_eq!(
        oath_put(&conn, "rfc6238-sha256", 0x22, 8, SEED_SHA256, false),
        0x9000
    );
    assert_eq!(
        oath_put(&conn, "rfc6238-sha512", 0x23, 8, SEED_SHA512, false),
        0x9000
    );
    // T = 59 s: step 1.
    assert_eq!(
        oath_calculate(&conn, "rfc6238-sha1", 1).1.as_deref(),
        Some("94287082")
    );
    assert_eq!(
        oath_calculate(&conn, "rfc6238-sha256", 1).1.as_deref(),
        Some("46119246")
    );
    assert_eq!(
        oath_calculate(&conn, "rfc6238-sha512", 1).1.as_deref(),
        Some("90693936")
    );
    assert_eq!(oath_calculate(&conn, "missing", 1).0, 0x6A82);

    // The code of now equals the software TOTP of the same seed.
    let step = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 30;
    let code = oath_calculate(&conn, "rfc6238-sha1", step).1;
    assert_eq!(
        code.as_deref(),
        Some(vyubikey::hotp(OathAlgorithm::Sha1, SEED_SHA1, step, 8).as_str())
    );

    let (list, sw, _) = conn.send_all(&apdu(0xA1, 0, 0, &[]), 0xA5);
    assert_eq!(sw, 0x9000);
    let names: Vec<(u8, String)> = parse_tlvs(&list)
        .expect("LIST TLV")
        .into_iter()
        .map(|(_, v)| (v[0], String::from_utf8_lossy(&v[1..]).into_owned()))
        .collect();
    assert_eq!(names[0], (0x21, "rfc6238-sha1".to_owned()));
    assert_eq!(names.len(), 3);

    let (all, sw, _) = conn.send_all(
        &apdu(0xA4, 0x00, 0x01, &tlv(&[0x74], &1u64.to_be_bytes())),
        0xA5,
    );
    assert_eq!(sw, 0x9000);
    let all = parse_tlvs(&all).expect("CALCULATE ALL TLV");
    assert_eq!(all.len(), 6);
    let (tag, value) = all[1];
    assert_eq!((tag, value[0]), (0x76, 8));
    let number = u32::from_be_bytes(value[1..5].try_into().expect("4 bytes"));
    assert_eq!(number % 100_000_000, 94_287_082);
    assert_eq!(
        card.counters().oath_calculate,
        4,
        "the missing one is not counted"
    );
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn oath_password_validate_touch_and_long_answers() {
    let card = VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        Config::new()
            .oath_password("hunter2")
            .touch(Touch::Never(Duration::from_millis(300)))
            .response_chunk(64)
            .oath_credential(OathCredential::totp("touchy", SEED_SHA1).touch(true))
            .oath_credential(OathCredential::hotp("counter", SEED_SHA1)),
    );
    let ctx = context();
    let conn = Conn::connect(&ctx, &reader(&ctx, 0));
    let select = parse_tlvs(&conn.select(&OATH_AID))
        .expect("SELECT TLV")
        .into_iter()
        .map(|(t, v)| (t, v.to_vec()))
        .collect::<Vec<_>>();
    let value = |tag: u8| {
        select
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.clone())
            .expect("tag")
    };
    let (salt, challenge) = (value(0x71), value(0x74));
    assert_eq!(value(0x7B), [0x01]);

    assert_eq!(conn.send(&apdu(0xA1, 0, 0, &[])).1, 0x6982, "locked");
    let wrong = vyubikey::oath_access_key(&salt, "hunter3");
    let validate = |key: &[u8]| {
        let body = [
            tlv(&[0x75], &vyubikey::hmac_sha1(key, &challenge)),
            tlv(&[0x74], &[7; 8]),
        ]
        .concat();
        conn.send(&apdu(0xA3, 0, 0, &body))
    };
    assert_eq!(validate(&wrong).1, 0x6984);
    // The challenge is spent: select again for a new one.
    let select = conn.select(&OATH_AID);
    let challenge = inner(&tlv(&[0x30], &select), 0x30, 0x74);
    let key = vyubikey::oath_access_key(&salt, "hunter2");
    let body = [
        tlv(&[0x75], &vyubikey::hmac_sha1(&key, &challenge)),
        tlv(&[0x74], &[7; 8]),
    ]
    .concat();
    let (answer, sw) = conn.send(&apdu(0xA3, 0, 0, &body));
    assert_eq!(sw, 0x9000);
    assert_eq!(
        inner(&tlv(&[0x30], &answer), 0x30, 0x75),
        vyubikey::hmac_sha1(&key, &[7; 8])
    );

    // Many credentials: LIST comes back in 64-byte pieces behind 61xx.
    for i in 0..20 {
        let name = format!("Issuer-{i:02}:someone@example.com");
        assert_eq!(oath_put(&conn, &name, 0x21, 6, SEED_SHA1, false), 0x9000);
    }
    let (list, sw, rounds) = conn.send_all(&apdu(0xA1, 0, 0, &[]), 0xA5);
    assert_eq!(sw, 0x9000);
    assert!(rounds > 5, "{rounds} rounds");
    assert_eq!(parse_tlvs(&list).expect("LIST TLV").len(), 22);

    // CALCULATE ALL: touch and HOTP credentials only name their digits.
    let (all, _, _) = conn.send_all(
        &apdu(0xA4, 0x00, 0x01, &tlv(&[0x74], &1u64.to_be_bytes())),
        0xA5,
    );
    let all = parse_tlvs(&all).expect("CALCULATE ALL TLV");
    assert_eq!(all[1], (0x7C, &[6][..]));
    assert_eq!(all[3], (0x77, &[6][..]));

    // Nobody touches: 6982 after the timeout; HOTP counts up.
    assert_eq!(oath_calculate(&conn, "touchy", 1).0, 0x6982);
    assert_eq!(
        oath_calculate(&conn, "counter", 0).1.as_deref(),
        Some("755224")
    );
    assert_eq!(
        oath_calculate(&conn, "counter", 0).1.as_deref(),
        Some("287082")
    );
    let counters = card.counters();
    assert_eq!(
        (counters.oath_validate_ok, counters.oath_validate_failed),
        (1, 1)
    );
    assert_eq!((counters.touch_requests, counters.touches), (1, 0));
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn reset_drops_the_applet_and_the_pin() {
    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new());
    let ctx = context();
    let name = reader(&ctx, 0);
    let mut conn = Conn::connect(&ctx, &name);
    conn.select(&PIV_AID);
    assert_eq!(conn.verify_pin("123456"), 0x9000);
    conn.card
        .reconnect(ShareMode::Shared, Protocols::T1, Disposition::ResetCard)
        .expect("reconnect with reset");
    assert_eq!(
        conn.send(&apdu(0xFD, 0, 0, &[])).1,
        0x6D00,
        "no applet selected after reset"
    );
    conn.select(&PIV_AID);
    assert_eq!(
        conn.send(&apdu(0x20, 0x00, 0x80, &[])).1,
        0x63C3,
        "PIN no longer verified"
    );
    assert!(card.counters().resets >= 1);

    // Leaving with a reset (what the `yubikey` crate's Drop does) too.
    drop(conn);
    conn = Conn::connect(&ctx, &name);
    conn.select(&PIV_AID);
    assert_eq!(conn.verify_pin("123456"), 0x9000);
    conn.card
        .disconnect(Disposition::ResetCard)
        .map_err(|(_, e)| e)
        .expect("disconnect");
    let conn = Conn::connect(&ctx, &name);
    conn.select(&PIV_AID);
    assert_eq!(conn.send(&apdu(0x20, 0x00, 0x80, &[])).1, 0x63C3);
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn removing_the_card_is_seen_by_pcscd() {
    let _rig = vyubikey::lock_rig();
    let ctx = context();
    let name = reader(&ctx, 0);
    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new());
    let conn = Conn::connect(&ctx, &name);
    conn.select(&PIV_AID);

    let state = card.remove();
    wait_state(&ctx, &name, State::EMPTY, Duration::from_secs(5));
    match conn.try_send(&apdu(0xFD, 0, 0, &[])) {
        Err(pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard) => {}
        other => panic!("transmit to a removed card: {other:?}"),
    }
    drop(conn);

    // The same card again, with its state.
    let serial = state.serial;
    let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), state);
    let conn = Conn::connect(&ctx, &name);
    conn.select(&PIV_AID);
    assert_eq!(conn.send(&apdu(0xF8, 0, 0, &[])).0, serial.to_be_bytes());
    drop(card);
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn a_card_pulled_out_mid_command_fails_the_command() {
    let _rig = vyubikey::lock_rig();
    let ctx = context();
    let name = reader(&ctx, 0);
    let key = touch_key();
    let card = VirtualYubiKey::insert(
        vyubikey::vpcd_port(),
        Config::new()
            .piv_key(0x82, key)
            .remove_on(RemoveOn::KeyOperation),
    );
    let conn = Conn::connect(&ctx, &name);
    conn.select(&PIV_AID);
    assert_eq!(conn.verify_pin("123456"), 0x9000);
    let peer = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let body = [
        tlv(&[0x82], &[]),
        tlv(
            &[0x85],
            peer.public_key().to_encoded_point(false).as_bytes(),
        ),
    ]
    .concat();
    // vpcd reports a card that vanished mid-command as an EMPTY response
    // (IFDHTransmitToICC succeeds with 0 bytes), not as an error: clients
    // must treat a response without status word as a failure.
    let result = conn.transmit(&apdu(0x87, 0x11, 0x82, &tlv(&[0x7C], &body)));
    assert!(result.as_ref().map_or(true, Vec::is_empty), "{result:?}");
    assert!(card.wait_removed(Duration::from_secs(1)));
    wait_state(&ctx, &name, State::EMPTY, Duration::from_secs(5));
    let after = conn.transmit(&apdu(0xFD, 0, 0, &[]));
    assert!(after.is_err(), "the next command fails: {after:?}");
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn two_cards_in_the_two_vpcd_slots() {
    let _rig = vyubikey::lock_rig();
    let port = vyubikey::vpcd_port();
    let first = VirtualYubiKey::insert(port, Config::new().serial(111));
    let second = VirtualYubiKey::insert(port + 1, Config::new().serial(222));
    let ctx = context();
    let mut serials = Vec::new();
    for slot in 0..2 {
        let conn = Conn::connect(&ctx, &reader(&ctx, slot));
        conn.select(&PIV_AID);
        let (serial, _) = conn.send(&apdu(0xF8, 0, 0, &[]));
        serials.push(u32::from_be_bytes(serial.try_into().expect("4 bytes")));
    }
    assert_eq!(serials, [111, 222]);
    assert_eq!((first.serial(), second.serial()), (111, 222));
}

/// A key imported into the card, PIN never, touch always.
fn touch_key() -> PivKey {
    PivKey::import(
        p256::SecretKey::random(&mut rand::rngs::OsRng),
        PinPolicy::Never,
        TouchPolicy::Always,
    )
}

#[test]
#[ignore = "needs pcscd and vpcd: run scripts/test"]
fn apdu_round_trips_through_pcscd_are_fast() {
    // Debian's vpcd sends each message in two writes; without TCP_QUICKACK on
    // the card's side every APDU would wait for a delayed ACK (~40 ms).
    let _card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new());
    let ctx = context();
    let conn = Conn::connect(&ctx, &reader(&ctx, 0));
    conn.select(&PIV_AID);
    let rounds = 100;
    let start = Instant::now();
    for _ in 0..rounds {
        assert_eq!(conn.send(&apdu(0xFD, 0, 0, &[])).1, 0x9000);
    }
    let each = start.elapsed() / rounds;
    eprintln!("GET VERSION through pcscd and vpcd: {each:?} per round trip");
    assert!(each < Duration::from_millis(15), "{each:?} per APDU");
}
