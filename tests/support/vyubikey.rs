//! A virtual YubiKey 5 for the PC/SC tests: the PIV and OATH applets (plus
//! the bits of the OTP and management applets that clients use to read the
//! serial), plugged into the private pcscd of `scripts/pcsc-rig` through
//! vsmartcard's vpcd reader.
//!
//! The card runs on a thread of the test process and connects to vpcd's TCP
//! port on 127.0.0.1 as the card side. vpcd's protocol: every message is a
//! big-endian u16 length and that many bytes. A one-byte message is a control
//! message (0x00 power off, 0x01 power on, 0x02 reset, 0x04 ATR request; only
//! the ATR request is answered, with the ATR); anything longer is an APDU,
//! answered with exactly one response APDU. Closing the socket is pulling the
//! card out. The code under test reaches the card only through the real
//! pcscd and libpcsclite.
//!
//! ```ignore
//! #[path = "support/vyubikey.rs"]
//! mod vyubikey;
//! use vyubikey::{Config, VirtualYubiKey};
//!
//! let card = VirtualYubiKey::insert(vyubikey::vpcd_port(), Config::new().pin("654321"));
//! // ... run the code under test with PCSCLITE_CSOCK_NAME = vyubikey::pcscd_socket() ...
//! assert_eq!(card.counters().ecdh, 1);
//! let state = card.remove(); // pulled out; `state` can be inserted again
//! ```
//!
//! What must stay true:
//! - Only what a real YubiKey 5 would answer, as far as the clients we use
//!   (`yubikey` 0.8 with `untested`, ykman, YKOATH) ask: status words as the
//!   real card gives them, so that error paths are tested for real.
//! - One card per vpcd slot at a time, and tests in one binary must not see
//!   each other's cards: inserting takes the process-wide rig lock until the
//!   card is removed (a thread that holds it may insert more; see [`lock_rig`]).
//! - Reset, power off and power on drop the selected applet and every
//!   security state (PIN verified, management key authenticated, OATH
//!   unlocked), as on the real card; SELECT drops them too.
//! - The card never panics on what a client sends: malformed input gets a
//!   status word.
//!
//! Set `AVAULT_VYUBIKEY_TRACE=1` to log every APDU to stderr (PIN, PUK, key
//! and password bytes redacted).

// Each test binary uses a different part of it, as a private module.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use aes::cipher::{Block, BlockDecrypt, BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::rngs::OsRng;
use rand::RngCore;

/// The ATR of a YubiKey 5 (USB, CCID): T=1 only (TD1 = 0x81, TD2 = 0x31),
/// historical bytes ending in "YubiKey", valid TCK.
pub const ATR: [u8; 23] = [
    0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, 0x59,
    0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
];

/// Factory PIN and PUK.
pub const DEFAULT_PIN: &str = "123456";
pub const DEFAULT_PUK: &str = "12345678";
/// Factory management key: 3DES before firmware 5.7, the same bytes as an
/// AES-192 key from 5.7 on.
pub const DEFAULT_MANAGEMENT_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

/// AIDs as clients select them (the card matches a prefix of its full AID).
pub const PIV_AID: [u8; 5] = [0xA0, 0x00, 0x00, 0x03, 0x08];
pub const OATH_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01];
pub const OTP_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01];
pub const MANAGEMENT_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17];

/// How long a YubiKey waits for a touch before giving up.
pub const TOUCH_TIMEOUT: Duration = Duration::from_secs(15);
/// A "cached" PIV touch policy accepts a touch this recent.
pub const TOUCH_CACHE: Duration = Duration::from_secs(15);

/// How long `insert` waits for pcscd to notice and power the card.
const INSERT_TIMEOUT: Duration = Duration::from_secs(10);
/// pcscd powers a card it noticed at once; see `insert` for when it does not.
const POWER_UP_TIMEOUT: Duration = Duration::from_secs(1);

/// The PIV object that holds "printed" data (a PIN-protected management key
/// lives there); reading it needs the PIN.
pub const OBJECT_PRINTED: [u8; 3] = [0x5F, 0xC1, 0x09];

// Status words.
const SW_OK: u16 = 0x9000;
const SW_VERIFY_FAIL: u16 = 0x63C0;
const SW_WRONG_LENGTH: u16 = 0x6700;
const SW_SECURITY: u16 = 0x6982;
const SW_BLOCKED: u16 = 0x6983;
const SW_DATA_INVALID: u16 = 0x6984;
const SW_CONDITIONS: u16 = 0x6985;
const SW_WRONG_DATA: u16 = 0x6A80;
const SW_NOT_FOUND: u16 = 0x6A82;
const SW_NO_SPACE: u16 = 0x6A84;
const SW_REF_NOT_FOUND: u16 = 0x6A88;
const SW_INCORRECT_SLOT: u16 = 0x6B00;
const SW_INS_NOT_SUPPORTED: u16 = 0x6D00;

/// Slots that hold keys.
const KEY_SLOTS: [u8; 4] = [0x9A, 0x9C, 0x9D, 0x9E];
const ALG_P256: u8 = 0x11;
const SLOT_MANAGEMENT: u8 = 0x9B;
/// OATH slots a YubiKey 5 holds (64 from 5.7).
const OATH_CAPACITY: usize = 32;

// ---------------------------------------------------------------------------
// The rig: where pcscd and vpcd are.

/// vpcd's port for slot 0 (`AVAULT_VPCD_PORT`, from `scripts/pcsc-rig env`);
/// slot 1 is the next port.
pub fn vpcd_port() -> u16 {
    let value = std::env::var("AVAULT_VPCD_PORT").unwrap_or_else(|_| {
        panic!(
            "AVAULT_VPCD_PORT is not set. The PC/SC tests need the private pcscd with \
             vpcd of scripts/pcsc-rig: run scripts/test, or `scripts/pcsc-rig start && \
             eval \"$(scripts/pcsc-rig env | sed 's/^/export /')\"`"
        )
    });
    value
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("AVAULT_VPCD_PORT is not a port: {value:?}"))
}

/// The private pcscd's socket (`PCSCLITE_CSOCK_NAME`): pass it to every
/// process that should see the virtual card.
pub fn pcscd_socket() -> String {
    std::env::var("PCSCLITE_CSOCK_NAME").unwrap_or_else(|_| {
        panic!(
            "PCSCLITE_CSOCK_NAME is not set: run scripts/test, or `scripts/pcsc-rig start && \
             eval \"$(scripts/pcsc-rig env | sed 's/^/export /')\"`"
        )
    })
}

/// The environment a child process needs to reach the private pcscd.
pub fn rig_env() -> Vec<(&'static str, String)> {
    vec![("PCSCLITE_CSOCK_NAME", pcscd_socket())]
}

/// Who holds the rig: a thread and how many holds it has.
static RIG: Mutex<Option<(ThreadId, usize)>> = Mutex::new(None);
static RIG_FREE: Condvar = Condvar::new();

/// Exclusive use of the PC/SC rig by the current thread until dropped: for a
/// test that needs the readers empty, or that inserts two cards. Inserting a
/// card takes the same lock (re-entrantly on the thread that holds it), so
/// tests that insert one card each simply run one after the other.
pub struct RigLock {
    _hold: RigHold,
}

/// Takes the rig lock (waits while another test holds it).
pub fn lock_rig() -> RigLock {
    RigLock {
        _hold: RigHold::acquire(),
    }
}

struct RigHold;

impl RigHold {
    fn acquire() -> RigHold {
        let me = thread::current().id();
        let mut owner = RIG.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match owner.as_mut() {
                None => {
                    *owner = Some((me, 1));
                    return RigHold;
                }
                Some((id, holds)) if *id == me => {
                    *holds += 1;
                    return RigHold;
                }
                Some(_) => owner = RIG_FREE.wait(owner).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }
}

impl Drop for RigHold {
    fn drop(&mut self) {
        let mut owner = RIG.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, holds)) = owner.as_mut() {
            *holds -= 1;
            if *holds == 0 {
                *owner = None;
                RIG_FREE.notify_all();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Configuration: what is on the card when it is inserted.

/// The PIN policy of a PIV key (the codes of GENERATE ASYMMETRIC's tag 0xAA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinPolicy {
    /// The slot's default: Always for 9c, Never for 9e, else Once.
    Default,
    Never,
    Once,
    Always,
}

impl PinPolicy {
    fn code(self) -> u8 {
        match self {
            PinPolicy::Default => 0,
            PinPolicy::Never => 1,
            PinPolicy::Once => 2,
            PinPolicy::Always => 3,
        }
    }

    fn from_code(code: u8) -> Option<PinPolicy> {
        Some(match code {
            0 => PinPolicy::Default,
            1 => PinPolicy::Never,
            2 => PinPolicy::Once,
            3 => PinPolicy::Always,
            _ => return None,
        })
    }

    fn resolve(self, slot: u8) -> PinPolicy {
        match (self, slot) {
            (PinPolicy::Default, 0x9C) => PinPolicy::Always,
            (PinPolicy::Default, 0x9E) => PinPolicy::Never,
            (PinPolicy::Default, _) => PinPolicy::Once,
            (policy, _) => policy,
        }
    }
}

/// The touch policy of a PIV key (tag 0xAB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TouchPolicy {
    /// The default: Never.
    Default,
    Never,
    Always,
    /// A touch within the last 15 s counts.
    Cached,
}

impl TouchPolicy {
    fn code(self) -> u8 {
        match self {
            TouchPolicy::Default => 0,
            TouchPolicy::Never => 1,
            TouchPolicy::Always => 2,
            TouchPolicy::Cached => 3,
        }
    }

    fn from_code(code: u8) -> Option<TouchPolicy> {
        Some(match code {
            0 => TouchPolicy::Default,
            1 => TouchPolicy::Never,
            2 => TouchPolicy::Always,
            3 => TouchPolicy::Cached,
            _ => return None,
        })
    }

    fn resolve(self) -> TouchPolicy {
        match self {
            TouchPolicy::Default => TouchPolicy::Never,
            policy => policy,
        }
    }
}

/// A P-256 key in a PIV slot.
#[derive(Clone)]
pub struct PivKey {
    pub secret: p256::SecretKey,
    pub pin_policy: PinPolicy,
    pub touch_policy: TouchPolicy,
    /// Generated on the card (metadata origin 1) or imported (2).
    pub generated: bool,
}

impl PivKey {
    /// A fresh key, as if generated on the card with these policies.
    pub fn generate(pin_policy: PinPolicy, touch_policy: TouchPolicy) -> PivKey {
        PivKey {
            secret: p256::SecretKey::random(&mut OsRng),
            pin_policy,
            touch_policy,
            generated: true,
        }
    }

    /// A given key, as if imported.
    pub fn import(
        secret: p256::SecretKey,
        pin_policy: PinPolicy,
        touch_policy: TouchPolicy,
    ) -> PivKey {
        PivKey {
            secret,
            pin_policy,
            touch_policy,
            generated: false,
        }
    }

    pub fn public_key(&self) -> p256::PublicKey {
        self.secret.public_key()
    }

    /// The uncompressed SEC1 point (65 bytes).
    pub fn public_point(&self) -> Vec<u8> {
        self.public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }
}

/// The PIV management key.
#[derive(Clone, PartialEq, Eq)]
pub enum ManagementKey {
    TripleDes([u8; 24]),
    Aes128([u8; 16]),
    Aes192([u8; 24]),
    Aes256([u8; 32]),
}

impl ManagementKey {
    /// The factory default for a firmware: AES-192 from 5.7, 3DES before.
    pub fn factory_default(firmware: [u8; 3]) -> ManagementKey {
        if firmware >= [5, 7, 0] {
            ManagementKey::Aes192(DEFAULT_MANAGEMENT_KEY)
        } else {
            ManagementKey::TripleDes(DEFAULT_MANAGEMENT_KEY)
        }
    }

    /// The algorithm id (P1 of GENERAL AUTHENTICATE, tag 1 of the metadata).
    pub fn algorithm(&self) -> u8 {
        match self {
            ManagementKey::TripleDes(_) => 0x03,
            ManagementKey::Aes128(_) => 0x08,
            ManagementKey::Aes192(_) => 0x0A,
            ManagementKey::Aes256(_) => 0x0C,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            ManagementKey::TripleDes(k) | ManagementKey::Aes192(k) => k,
            ManagementKey::Aes128(k) => k,
            ManagementKey::Aes256(k) => k,
        }
    }

    /// Witness and challenge length: the cipher's block.
    pub fn block_len(&self) -> usize {
        match self {
            ManagementKey::TripleDes(_) => 8,
            _ => 16,
        }
    }

    fn from_parts(algorithm: u8, key: &[u8]) -> Option<ManagementKey> {
        Some(match (algorithm, key.len()) {
            (0x03, 24) => ManagementKey::TripleDes(key.try_into().ok()?),
            (0x08, 16) => ManagementKey::Aes128(key.try_into().ok()?),
            (0x0A, 24) => ManagementKey::Aes192(key.try_into().ok()?),
            (0x0C, 32) => ManagementKey::Aes256(key.try_into().ok()?),
            _ => return None,
        })
    }

    /// ECB over one block (the length of `block` must be `block_len`).
    pub fn encrypt(&self, block: &[u8]) -> Vec<u8> {
        self.ecb(block, true)
    }

    pub fn decrypt(&self, block: &[u8]) -> Vec<u8> {
        self.ecb(block, false)
    }

    fn ecb(&self, block: &[u8], encrypt: bool) -> Vec<u8> {
        fn run<C: BlockEncrypt + BlockDecrypt + KeyInit>(
            key: &[u8],
            block: &[u8],
            encrypt: bool,
        ) -> Vec<u8> {
            let cipher = C::new_from_slice(key).expect("management key length");
            let mut b = Block::<C>::clone_from_slice(block);
            if encrypt {
                cipher.encrypt_block(&mut b);
            } else {
                cipher.decrypt_block(&mut b);
            }
            b.to_vec()
        }
        match self {
            ManagementKey::TripleDes(k) => run::<des::TdesEde3>(k, block, encrypt),
            ManagementKey::Aes128(k) => run::<aes::Aes128>(k, block, encrypt),
            ManagementKey::Aes192(k) => run::<aes::Aes192>(k, block, encrypt),
            ManagementKey::Aes256(k) => run::<aes::Aes256>(k, block, encrypt),
        }
    }
}

/// OATH credential type (the high nibble of the key's first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OathKind {
    Hotp,
    Totp,
}

/// OATH hash (the low nibble).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OathAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl OathAlgorithm {
    fn code(self) -> u8 {
        match self {
            OathAlgorithm::Sha1 => 1,
            OathAlgorithm::Sha256 => 2,
            OathAlgorithm::Sha512 => 3,
        }
    }
}

/// An OATH credential. `name` is the credential id as YKOATH stores it:
/// `[period/][issuer:]account` (the period only when it is not 30).
#[derive(Clone)]
pub struct OathCredential {
    pub name: String,
    pub kind: OathKind,
    pub algorithm: OathAlgorithm,
    pub digits: u8,
    pub secret: Vec<u8>,
    pub touch: bool,
    /// HOTP moving factor (the next counter used).
    pub counter: u64,
}

impl OathCredential {
    /// TOTP, SHA-1, 6 digits, no touch.
    pub fn totp(name: &str, secret: &[u8]) -> OathCredential {
        OathCredential {
            name: name.to_owned(),
            kind: OathKind::Totp,
            algorithm: OathAlgorithm::Sha1,
            digits: 6,
            secret: secret.to_vec(),
            touch: false,
            counter: 0,
        }
    }

    /// HOTP, SHA-1, 6 digits, counter 0.
    pub fn hotp(name: &str, secret: &[u8]) -> OathCredential {
        OathCredential {
            kind: OathKind::Hotp,
            ..OathCredential::totp(name, secret)
        }
    }

    pub fn digits(mut self, digits: u8) -> OathCredential {
        self.digits = digits;
        self
    }

    pub fn algorithm(mut self, algorithm: OathAlgorithm) -> OathCredential {
        self.algorithm = algorithm;
        self
    }

    pub fn touch(mut self, touch: bool) -> OathCredential {
        self.touch = touch;
        self
    }

    fn type_byte(&self) -> u8 {
        let kind = match self.kind {
            OathKind::Hotp => 0x10,
            OathKind::Totp => 0x20,
        };
        kind | self.algorithm.code()
    }
}

/// How the simulated user answers "touch your YubiKey".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// Touches at once.
    Immediate,
    /// Touches after this long.
    After(Duration),
    /// Touches when the test calls [`VirtualYubiKey::touch`]; the card gives
    /// up after [`TOUCH_TIMEOUT`].
    Manual,
    /// Never touches: the card gives up after this long (a real YubiKey
    /// after 15 s) and answers 6982.
    Never(Duration),
}

/// Pull the card out (close the socket without answering) when this happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveOn {
    /// A GENERAL AUTHENTICATE with a PIV key (ECDH or signature), not the
    /// management key's.
    KeyOperation,
    /// An OATH CALCULATE.
    OathCalculate,
    /// The n-th APDU (1-based) since insertion.
    Apdu(u32),
}

/// The card's persistent state: configure it before inserting, get it back
/// from [`VirtualYubiKey::remove`] or [`VirtualYubiKey::state`].
#[derive(Clone)]
pub struct Config {
    pub serial: u32,
    pub firmware: [u8; 3],
    pub pin: Vec<u8>,
    pub pin_retries: u8,
    pub pin_tries_left: u8,
    pub puk: Vec<u8>,
    pub puk_retries: u8,
    pub puk_tries_left: u8,
    /// None: the firmware's factory default ([`ManagementKey::factory_default`]).
    pub management_key: Option<ManagementKey>,
    pub touch: Touch,
    /// Keys by slot (0x9a, 0x9c, 0x9d, 0x9e, 0x82..=0x95).
    pub piv_keys: BTreeMap<u8, PivKey>,
    /// PIV data objects by id (the value of tag 0x5C, e.g. 5F C1 0D for the
    /// certificate of slot 0x82), holding the value of tag 0x53.
    pub piv_objects: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The OATH applet's salt (tag 0x71 of its SELECT answer).
    pub oath_salt: [u8; 8],
    /// The OATH access key (PBKDF2 of the password), when one is set.
    pub oath_key: Option<Vec<u8>>,
    pub oath_credentials: Vec<OathCredential>,
    pub remove_on: Option<RemoveOn>,
    /// Longest response data before `61xx` and GET RESPONSE / SEND REMAINING.
    pub response_chunk: usize,
}

static NEXT_SERIAL: AtomicU32 = AtomicU32::new(20_000_001);

impl Default for Config {
    fn default() -> Config {
        let mut oath_salt = [0u8; 8];
        OsRng.fill_bytes(&mut oath_salt);
        Config {
            serial: NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
            firmware: [5, 4, 3],
            pin: DEFAULT_PIN.as_bytes().to_vec(),
            pin_retries: 3,
            pin_tries_left: 3,
            puk: DEFAULT_PUK.as_bytes().to_vec(),
            puk_retries: 3,
            puk_tries_left: 3,
            management_key: None,
            touch: Touch::Immediate,
            piv_keys: BTreeMap::new(),
            piv_objects: BTreeMap::new(),
            oath_salt,
            oath_key: None,
            oath_credentials: Vec::new(),
            remove_on: None,
            response_chunk: 256,
        }
    }
}

impl Config {
    /// A factory-fresh YubiKey 5 (firmware 5.4.3) with a new serial.
    pub fn new() -> Config {
        Config::default()
    }

    pub fn serial(mut self, serial: u32) -> Config {
        self.serial = serial;
        self
    }

    /// The firmware GET VERSION reports. From 5.7 the factory management key
    /// is AES-192 (unless one is set); GET METADATA needs 5.3.
    pub fn firmware(mut self, major: u8, minor: u8, patch: u8) -> Config {
        self.firmware = [major, minor, patch];
        self
    }

    pub fn pin(mut self, pin: &str) -> Config {
        self.pin = pin.as_bytes().to_vec();
        self
    }

    pub fn puk(mut self, puk: &str) -> Config {
        self.puk = puk.as_bytes().to_vec();
        self
    }

    pub fn pin_tries_left(mut self, tries: u8) -> Config {
        self.pin_tries_left = tries;
        self
    }

    pub fn management_key(mut self, key: ManagementKey) -> Config {
        self.management_key = Some(key);
        self
    }

    pub fn touch(mut self, touch: Touch) -> Config {
        self.touch = touch;
        self
    }

    pub fn piv_key(mut self, slot: u8, key: PivKey) -> Config {
        self.piv_keys.insert(slot, key);
        self
    }

    pub fn piv_object(mut self, id: &[u8], value: &[u8]) -> Config {
        self.piv_objects.insert(id.to_vec(), value.to_vec());
        self
    }

    /// Protects the OATH applet with a password (the key derived from it and
    /// the current salt).
    pub fn oath_password(mut self, password: &str) -> Config {
        self.oath_key = Some(oath_access_key(&self.oath_salt, password));
        self
    }

    pub fn oath_credential(mut self, credential: OathCredential) -> Config {
        self.oath_credentials.push(credential);
        self
    }

    pub fn remove_on(mut self, trigger: RemoveOn) -> Config {
        self.remove_on = Some(trigger);
        self
    }

    pub fn response_chunk(mut self, len: usize) -> Config {
        self.response_chunk = len.clamp(1, 256);
        self
    }

    /// The management key in force.
    pub fn effective_management_key(&self) -> ManagementKey {
        self.management_key
            .clone()
            .unwrap_or_else(|| ManagementKey::factory_default(self.firmware))
    }
}

/// What the card counted since insertion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub apdus: u32,
    pub atr_requests: u32,
    pub power_ons: u32,
    pub power_offs: u32,
    pub resets: u32,
    pub selects: u32,
    pub verify_pin_ok: u32,
    pub verify_pin_wrong: u32,
    /// Tries left as reported by the last VERIFY (PIN), query form included.
    pub last_pin_tries: Option<u8>,
    pub management_auth_ok: u32,
    pub management_auth_failed: u32,
    pub generate: u32,
    /// Every GENERAL AUTHENTICATE, the management key's included.
    pub general_authenticate: u32,
    pub ecdh: u32,
    pub sign: u32,
    pub get_data: u32,
    pub put_data: u32,
    pub get_metadata: u32,
    /// Touches the card asked for, and those it got.
    pub touch_requests: u32,
    pub touches: u32,
    pub oath_put: u32,
    pub oath_list: u32,
    pub oath_calculate: u32,
    pub oath_calculate_all: u32,
    pub oath_validate_ok: u32,
    pub oath_validate_failed: u32,
}

// ---------------------------------------------------------------------------
// Crypto helpers the tests use too.

fn hmac_bytes(algorithm: OathAlgorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn mac<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        OathAlgorithm::Sha1 => mac::<Hmac<sha1::Sha1>>(key, message),
        OathAlgorithm::Sha256 => mac::<Hmac<sha2::Sha256>>(key, message),
        OathAlgorithm::Sha512 => mac::<Hmac<sha2::Sha512>>(key, message),
    }
}

/// HMAC-SHA1, as YKOATH's VALIDATE uses it.
pub fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac_bytes(OathAlgorithm::Sha1, key, message)
}

/// The OATH access key for a password: PBKDF2-HMAC-SHA1, 1000 rounds, 16
/// bytes, salted with the applet's salt (as ykman derives it).
pub fn oath_access_key(salt: &[u8], password: &str) -> Vec<u8> {
    pbkdf2_sha1(password.as_bytes(), salt, 1000, 16)
}

/// PBKDF2-HMAC-SHA1 (RFC 8018), up to one block (20 bytes) of output.
pub fn pbkdf2_sha1(password: &[u8], salt: &[u8], rounds: u32, len: usize) -> Vec<u8> {
    let mut block = salt.to_vec();
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha1(password, &block);
    let mut out = u.clone();
    for _ in 1..rounds {
        u = hmac_sha1(password, &u);
        for (o, x) in out.iter_mut().zip(&u) {
            *o ^= x;
        }
    }
    out.truncate(len);
    out
}

/// RFC 4226 dynamic truncation: 31 bits from the HMAC.
fn truncate(hmac: &[u8]) -> u32 {
    let offset = usize::from(hmac.last().copied().unwrap_or(0) & 0x0F);
    let bytes: [u8; 4] = hmac
        .get(offset..offset + 4)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; 4]);
    u32::from_be_bytes(bytes) & 0x7FFF_FFFF
}

/// The HOTP code (RFC 4226) for a counter: TOTP (RFC 6238) with counter =
/// unix time / period.
pub fn hotp(algorithm: OathAlgorithm, secret: &[u8], counter: u64, digits: u8) -> String {
    let value = truncate(&hmac_bytes(algorithm, secret, &counter.to_be_bytes()));
    let modulus = 10u64.pow(u32::from(digits));
    format!(
        "{:0width$}",
        u64::from(value) % modulus,
        width = usize::from(digits)
    )
}

// ---------------------------------------------------------------------------
// BER-TLV, the subset the applets use: one-byte tags, lengths up to 0xFFFF.

fn encode_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        vec![len as u8]
    } else if len <= 0xFF {
        vec![0x81, len as u8]
    } else {
        vec![0x82, (len >> 8) as u8, len as u8]
    }
}

/// A TLV with a (one- or two-byte) tag.
pub fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    out.extend(encode_len(value.len()));
    out.extend_from_slice(value);
    out
}

/// (length, bytes of the length field)
fn parse_len(data: &[u8]) -> Option<(usize, usize)> {
    match *data.first()? {
        b if b < 0x80 => Some((usize::from(b), 1)),
        0x81 => Some((usize::from(*data.get(1)?), 2)),
        0x82 => Some((
            (usize::from(*data.get(1)?) << 8) | usize::from(*data.get(2)?),
            3,
        )),
        _ => None,
    }
}

/// The TLVs of `data`, in order; None when malformed.
pub fn parse_tlvs(mut data: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while let Some(&tag) = data.first() {
        let (len, header) = parse_len(&data[1..])?;
        let value = data.get(1 + header..1 + header + len)?;
        out.push((tag, value));
        data = &data[1 + header + len..];
    }
    Some(out)
}

fn find<'a>(tlvs: &[(u8, &'a [u8])], tag: u8) -> Option<&'a [u8]> {
    tlvs.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v)
}

fn sw(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

// ---------------------------------------------------------------------------
// The card: APDUs in, responses out, no I/O.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Applet {
    Piv,
    Oath,
    Otp,
    Management,
}

impl Applet {
    const ALL: [(Applet, &'static [u8]); 4] = [
        (
            Applet::Piv,
            &[
                0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
            ],
        ),
        (
            Applet::Oath,
            &[0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01, 0x01],
        ),
        (
            Applet::Otp,
            &[0xA0, 0x00, 0x00, 0x05, 0x27, 0x20, 0x01, 0x01],
        ),
        (Applet::Management, &MANAGEMENT_AID),
    ];

    fn by_aid(aid: &[u8]) -> Option<Applet> {
        if aid.len() < 5 {
            return None;
        }
        Applet::ALL
            .iter()
            .find(|(_, full)| full.starts_with(aid))
            .map(|(applet, _)| *applet)
    }
}

/// Volatile state: lost on reset, power off and SELECT.
#[derive(Default)]
struct Session {
    applet: Option<Applet>,
    pin_verified: bool,
    /// PIN verified and not yet used by a PIN-policy-Always key.
    pin_fresh: bool,
    management_authenticated: bool,
    /// The plain witness of a mutual authentication in progress.
    witness: Option<Vec<u8>>,
    /// The challenge of a one-way (card challenge) authentication.
    card_challenge: Option<Vec<u8>>,
    oath_unlocked: bool,
    oath_challenge: Option<[u8; 8]>,
    /// Command chaining: (INS, P1, P2, data so far).
    chain: Option<(u8, u8, u8, Vec<u8>)>,
    /// Response data not sent yet (61xx).
    pending: Vec<u8>,
}

struct Command<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
}

/// Parses a short or extended APDU. The `yubikey` crate always sends an Lc
/// byte, 0 when there is no data; a 5-byte APDU is read as "no data".
fn parse_apdu(apdu: &[u8]) -> Result<Command<'_>, u16> {
    let [cla, ins, p1, p2, rest @ ..] = apdu else {
        return Err(SW_WRONG_LENGTH);
    };
    let data: &[u8] = match rest {
        [] | [_] => &[],
        [0, hi, lo, tail @ ..] if !tail.is_empty() => {
            let len = (usize::from(*hi) << 8) | usize::from(*lo);
            tail.get(..len).ok_or(SW_WRONG_LENGTH)?
        }
        [lc, tail @ ..] => {
            let len = usize::from(*lc);
            if tail.len() < len || tail.len() > len + 1 {
                return Err(SW_WRONG_LENGTH);
            }
            &tail[..len]
        }
    };
    Ok(Command {
        cla: *cla,
        ins: *ins,
        p1: *p1,
        p2: *p2,
        data,
    })
}

/// Work that waits for a touch: called with whether the user touched.
type Deferred = Box<dyn FnOnce(&mut Engine, bool) -> Vec<u8> + Send>;

enum Outcome {
    Reply(Vec<u8>),
    /// Ask for a touch, then finish.
    Touch(Deferred),
    /// Pull the card out instead of answering.
    Remove,
}

fn reply(data: &[u8], status: u16) -> Outcome {
    let mut out = data.to_vec();
    out.extend(sw(status));
    Outcome::Reply(out)
}

fn status(code: u16) -> Outcome {
    Outcome::Reply(sw(code))
}

struct Engine {
    config: Config,
    session: Session,
    counters: Counters,
    last_touch: Option<Instant>,
}

impl Engine {
    fn new(config: Config) -> Engine {
        Engine {
            config,
            session: Session::default(),
            counters: Counters::default(),
            last_touch: None,
        }
    }

    /// A one-byte vpcd control message; Some(answer) only for the ATR request.
    fn control(&mut self, byte: u8) -> Option<Vec<u8>> {
        match byte {
            0x00 => {
                self.counters.power_offs += 1;
                self.session = Session::default();
                None
            }
            0x01 => {
                self.counters.power_ons += 1;
                self.session = Session::default();
                None
            }
            0x02 => {
                self.counters.resets += 1;
                self.session = Session::default();
                None
            }
            0x04 => {
                self.counters.atr_requests += 1;
                Some(ATR.to_vec())
            }
            _ => None,
        }
    }

    fn apdu(&mut self, raw: &[u8]) -> Outcome {
        self.counters.apdus += 1;
        if self.config.remove_on == Some(RemoveOn::Apdu(self.counters.apdus)) {
            return Outcome::Remove;
        }
        let command = match parse_apdu(raw) {
            Ok(c) => c,
            Err(code) => return status(code),
        };

        // Command chaining (CLA bit 0x10): collect, answer 9000, run at the end.
        if command.cla & 0x10 != 0 {
            let key = (command.ins, command.p1, command.p2);
            match &mut self.session.chain {
                Some((ins, p1, p2, data)) if (*ins, *p1, *p2) == key => {
                    data.extend_from_slice(command.data)
                }
                chain => *chain = Some((key.0, key.1, key.2, command.data.to_vec())),
            }
            return status(SW_OK);
        }
        let chained;
        let command = match self.session.chain.take() {
            Some((ins, p1, p2, mut data))
                if (ins, p1, p2) == (command.ins, command.p1, command.p2) =>
            {
                data.extend_from_slice(command.data);
                chained = data;
                Command {
                    data: &chained,
                    ..command
                }
            }
            _ => command,
        };

        let get_response = command.ins == 0xC0
            || (self.session.applet == Some(Applet::Oath) && command.ins == 0xA5);
        if get_response {
            if self.session.pending.is_empty() {
                return status(SW_CONDITIONS);
            }
            let rest = std::mem::take(&mut self.session.pending);
            return self.respond(rest);
        }
        self.session.pending.clear();

        // SELECT, except that the OATH applet's CALCULATE ALL is INS A4 P1 00.
        if command.ins == 0xA4 && (command.p1 == 0x04 || self.session.applet != Some(Applet::Oath))
        {
            return self.select(&command);
        }
        match self.session.applet {
            Some(Applet::Piv) => self.piv(&command),
            Some(Applet::Oath) => self.oath(&command),
            Some(Applet::Otp) => self.otp(&command),
            Some(Applet::Management) => self.management(&command),
            None => status(SW_INS_NOT_SUPPORTED),
        }
    }

    /// Success with data, split into `response_chunk` pieces behind 61xx.
    fn respond(&mut self, mut data: Vec<u8>) -> Outcome {
        let chunk = self.config.response_chunk.clamp(1, 256);
        if data.len() <= chunk {
            return reply(&data, SW_OK);
        }
        let rest = data.split_off(chunk);
        let code = 0x6100 | rest.len().min(0xFF) as u16;
        self.session.pending = rest;
        reply(&data, code)
    }

    fn select(&mut self, c: &Command<'_>) -> Outcome {
        if c.p1 != 0x04 {
            return status(SW_NOT_FOUND);
        }
        let Some(applet) = Applet::by_aid(c.data) else {
            return status(SW_NOT_FOUND);
        };
        self.counters.selects += 1;
        self.session = Session {
            applet: Some(applet),
            oath_unlocked: self.config.oath_key.is_none(),
            ..Session::default()
        };
        let [major, minor, patch] = self.config.firmware;
        match applet {
            Applet::Piv => {
                // Application property template: the PIV AID and its version.
                let aid = tlv(&[0x4F], &[0x00, 0x00, 0x10, 0x00, 0x01, 0x00]);
                let authority = tlv(&[0x79], &tlv(&[0x4F], &PIV_AID));
                self.respond(tlv(&[0x61], &[aid, authority].concat()))
            }
            Applet::Oath => {
                let mut out = tlv(&[0x79], &self.config.firmware);
                out.extend(tlv(&[0x71], &self.config.oath_salt));
                if self.config.oath_key.is_some() {
                    let mut challenge = [0u8; 8];
                    OsRng.fill_bytes(&mut challenge);
                    self.session.oath_challenge = Some(challenge);
                    out.extend(tlv(&[0x74], &challenge));
                    out.extend(tlv(&[0x7B], &[0x01])); // HMAC-SHA1
                }
                self.respond(out)
            }
            Applet::Otp => self.respond(vec![major, minor, patch, 0x01, 0x00, 0x00]),
            Applet::Management => self
                .respond(format!("Virtual mgr - FW version {major}.{minor}.{patch}").into_bytes()),
        }
    }

    // -- PIV ----------------------------------------------------------------

    fn piv(&mut self, c: &Command<'_>) -> Outcome {
        match c.ins {
            0xFD => self.respond(self.config.firmware.to_vec()),
            0xF8 if self.config.firmware[0] >= 5 => {
                self.respond(self.config.serial.to_be_bytes().to_vec())
            }
            0x20 => self.verify(c),
            0x24 => self.change_reference(c),
            0x2C => self.reset_retry(c),
            0x47 => self.generate(c),
            0xFE => self.import_key(c),
            0x87 => self.general_authenticate(c),
            0xCB => self.get_data(c),
            0xDB => self.put_data(c),
            0xF7 => self.metadata(c),
            0xFF => self.set_management_key(c),
            0xFA => self.set_pin_retries(c),
            0xFB => self.reset_piv(),
            _ => status(SW_INS_NOT_SUPPORTED),
        }
    }

    fn padded(secret: &[u8]) -> Vec<u8> {
        let mut out = secret.to_vec();
        out.resize(8, 0xFF);
        out
    }

    fn unpad(field: &[u8]) -> Vec<u8> {
        let end = field.iter().rposition(|b| *b != 0xFF).map_or(0, |i| i + 1);
        field[..end].to_vec()
    }

    fn verify(&mut self, c: &Command<'_>) -> Outcome {
        if c.p1 == 0xFF && c.data.is_empty() {
            self.session.pin_verified = false;
            self.session.pin_fresh = false;
            return status(SW_OK);
        }
        if c.p1 != 0x00 || c.p2 != 0x80 {
            return status(SW_REF_NOT_FOUND);
        }
        let left = self.config.pin_tries_left;
        if c.data.is_empty() {
            self.counters.last_pin_tries = Some(left);
            return status(match left {
                0 => SW_BLOCKED,
                _ if self.session.pin_verified => SW_OK,
                n => SW_VERIFY_FAIL | u16::from(n),
            });
        }
        if c.data.len() != 8 {
            return status(SW_WRONG_DATA);
        }
        if left == 0 {
            self.counters.last_pin_tries = Some(0);
            return status(SW_BLOCKED);
        }
        if c.data == Self::padded(&self.config.pin).as_slice() {
            self.config.pin_tries_left = self.config.pin_retries;
            self.session.pin_verified = true;
            self.session.pin_fresh = true;
            self.counters.verify_pin_ok += 1;
            self.counters.last_pin_tries = Some(self.config.pin_retries);
            status(SW_OK)
        } else {
            self.config.pin_tries_left = left - 1;
            self.session.pin_verified = false;
            self.session.pin_fresh = false;
            self.counters.verify_pin_wrong += 1;
            self.counters.last_pin_tries = Some(left - 1);
            status(SW_VERIFY_FAIL | u16::from(left - 1))
        }
    }

    /// Checks `old` against the PIN (0x80) or PUK (0x81) with its counter;
    /// Err(status) when wrong or blocked.
    fn check_reference(&mut self, reference: u8, old: &[u8]) -> Result<(), u16> {
        let (secret, left, max) = match reference {
            0x80 => (
                &self.config.pin,
                &mut self.config.pin_tries_left,
                self.config.pin_retries,
            ),
            0x81 => (
                &self.config.puk,
                &mut self.config.puk_tries_left,
                self.config.puk_retries,
            ),
            _ => return Err(SW_REF_NOT_FOUND),
        };
        if *left == 0 {
            return Err(SW_BLOCKED);
        }
        if old == Self::padded(secret).as_slice() {
            *left = max;
            Ok(())
        } else {
            *left -= 1;
            Err(SW_VERIFY_FAIL | u16::from(*left))
        }
    }

    fn new_secret(field: &[u8]) -> Result<Vec<u8>, u16> {
        let secret = Self::unpad(field);
        if (6..=8).contains(&secret.len()) {
            Ok(secret)
        } else {
            Err(SW_WRONG_DATA)
        }
    }

    fn change_reference(&mut self, c: &Command<'_>) -> Outcome {
        if c.data.len() != 16 {
            return status(SW_WRONG_DATA);
        }
        let new = match Self::new_secret(&c.data[8..]) {
            Ok(s) => s,
            Err(code) => return status(code),
        };
        if let Err(code) = self.check_reference(c.p2, &c.data[..8]) {
            return status(code);
        }
        if c.p2 == 0x80 {
            self.config.pin = new;
        } else {
            self.config.puk = new;
        }
        status(SW_OK)
    }

    fn reset_retry(&mut self, c: &Command<'_>) -> Outcome {
        if c.p2 != 0x80 || c.data.len() != 16 {
            return status(SW_WRONG_DATA);
        }
        let new = match Self::new_secret(&c.data[8..]) {
            Ok(s) => s,
            Err(code) => return status(code),
        };
        if let Err(code) = self.check_reference(0x81, &c.data[..8]) {
            return status(code);
        }
        self.config.pin = new;
        self.config.pin_tries_left = self.config.pin_retries;
        status(SW_OK)
    }

    fn key_slot(slot: u8) -> bool {
        KEY_SLOTS.contains(&slot) || (0x82..=0x95).contains(&slot)
    }

    /// Policies from tags 0xAA / 0xAB.
    fn policies(tlvs: &[(u8, &[u8])]) -> Option<(PinPolicy, TouchPolicy)> {
        let pin = match find(tlvs, 0xAA) {
            Some([code]) => PinPolicy::from_code(*code)?,
            Some(_) => return None,
            None => PinPolicy::Default,
        };
        let touch = match find(tlvs, 0xAB) {
            Some([code]) => TouchPolicy::from_code(*code)?,
            Some(_) => return None,
            None => TouchPolicy::Default,
        };
        Some((pin, touch))
    }

    fn generate(&mut self, c: &Command<'_>) -> Outcome {
        if !self.session.management_authenticated {
            return status(SW_SECURITY);
        }
        if !Self::key_slot(c.p2) {
            return status(SW_INCORRECT_SLOT);
        }
        let Some(template) = parse_tlvs(c.data).and_then(|t| find(&t, 0xAC)) else {
            return status(SW_WRONG_DATA);
        };
        let Some(inner) = parse_tlvs(template) else {
            return status(SW_WRONG_DATA);
        };
        if find(&inner, 0x80) != Some(&[ALG_P256][..]) {
            return status(SW_WRONG_DATA);
        }
        let Some((pin, touch)) = Self::policies(&inner) else {
            return status(SW_WRONG_DATA);
        };
        let key = PivKey::generate(pin.resolve(c.p2), touch.resolve());
        let point = key.public_point();
        self.config.piv_keys.insert(c.p2, key);
        self.counters.generate += 1;
        self.respond(tlv(&[0x7F, 0x49], &tlv(&[0x86], &point)))
    }

    fn import_key(&mut self, c: &Command<'_>) -> Outcome {
        if !self.session.management_authenticated {
            return status(SW_SECURITY);
        }
        if !Self::key_slot(c.p2) {
            return status(SW_INCORRECT_SLOT);
        }
        if c.p1 != ALG_P256 {
            return status(SW_WRONG_DATA);
        }
        let Some(tlvs) = parse_tlvs(c.data) else {
            return status(SW_WRONG_DATA);
        };
        let (Some(scalar), Some((pin, touch))) = (find(&tlvs, 0x06), Self::policies(&tlvs)) else {
            return status(SW_WRONG_DATA);
        };
        let Ok(secret) = p256::SecretKey::from_slice(scalar) else {
            return status(SW_WRONG_DATA);
        };
        let key = PivKey::import(secret, pin.resolve(c.p2), touch.resolve());
        self.config.piv_keys.insert(c.p2, key);
        status(SW_OK)
    }

    fn general_authenticate(&mut self, c: &Command<'_>) -> Outcome {
        self.counters.general_authenticate += 1;
        let Some(inner) = parse_tlvs(c.data)
            .and_then(|t| find(&t, 0x7C))
            .and_then(parse_tlvs)
        else {
            return status(SW_WRONG_DATA);
        };
        if c.p2 == SLOT_MANAGEMENT {
            return self.management_authenticate(c.p1, &inner);
        }
        if self.config.remove_on == Some(RemoveOn::KeyOperation) {
            return Outcome::Remove;
        }
        let Some(key) = self.config.piv_keys.get(&c.p2).cloned() else {
            return status(SW_WRONG_DATA);
        };
        if c.p1 != ALG_P256 || find(&inner, 0x82) != Some(&[][..]) {
            return status(SW_WRONG_DATA);
        }
        enum Op {
            Ecdh(p256::PublicKey),
            Sign([u8; 32]),
        }
        let op = if let Some(point) = find(&inner, 0x85) {
            if point.len() != 65 {
                return status(SW_WRONG_DATA);
            }
            match p256::PublicKey::from_sec1_bytes(point) {
                Ok(peer) => Op::Ecdh(peer),
                Err(_) => return status(SW_WRONG_DATA),
            }
        } else if let Some(digest) = find(&inner, 0x81) {
            if digest.len() > 32 {
                return status(SW_WRONG_DATA);
            }
            let mut padded = [0u8; 32];
            padded[32 - digest.len()..].copy_from_slice(digest);
            Op::Sign(padded)
        } else {
            return status(SW_WRONG_DATA);
        };

        let pin_ok = match key.pin_policy.resolve(c.p2) {
            PinPolicy::Never => true,
            PinPolicy::Always => std::mem::take(&mut self.session.pin_fresh),
            _ => self.session.pin_verified,
        };
        if !pin_ok {
            return status(SW_SECURITY);
        }

        let finish = move |engine: &mut Engine| -> Vec<u8> {
            let out = match op {
                Op::Ecdh(peer) => {
                    engine.counters.ecdh += 1;
                    let shared = p256::ecdh::diffie_hellman(
                        key.secret.to_nonzero_scalar(),
                        peer.as_affine(),
                    );
                    shared.raw_secret_bytes().to_vec()
                }
                Op::Sign(digest) => {
                    let signer = p256::ecdsa::SigningKey::from(key.secret.clone());
                    let signature: p256::ecdsa::Signature = match signer.sign_prehash(&digest) {
                        Ok(s) => s,
                        Err(_) => return sw(SW_WRONG_DATA),
                    };
                    engine.counters.sign += 1;
                    signature.to_der().as_bytes().to_vec()
                }
            };
            match engine.respond(tlv(&[0x7C], &tlv(&[0x82], &out))) {
                Outcome::Reply(bytes) => bytes,
                _ => sw(SW_CONDITIONS),
            }
        };
        let touch = match key.touch_policy.resolve() {
            TouchPolicy::Always => true,
            TouchPolicy::Cached => self.last_touch.is_none_or(|t| t.elapsed() >= TOUCH_CACHE),
            _ => false,
        };
        if !touch {
            return Outcome::Reply(finish(self));
        }
        Outcome::Touch(Box::new(move |engine: &mut Engine, touched: bool| {
            if touched {
                engine.last_touch = Some(Instant::now());
                finish(engine)
            } else {
                sw(SW_SECURITY)
            }
        }))
    }

    /// Management key authentication: mutual (80 empty → witness; 80 + 81 →
    /// response) or one-way (81 empty → challenge; 82 → response).
    fn management_authenticate(&mut self, algorithm: u8, inner: &[(u8, &[u8])]) -> Outcome {
        let key = self.config.effective_management_key();
        if algorithm != key.algorithm() {
            return status(SW_WRONG_DATA);
        }
        let block = key.block_len();
        let random = || {
            let mut bytes = vec![0u8; block];
            OsRng.fill_bytes(&mut bytes);
            bytes
        };
        match inner {
            [(0x80, [])] => {
                let witness = random();
                let encrypted = key.encrypt(&witness);
                self.session.witness = Some(witness);
                self.session.management_authenticated = false;
                self.respond(tlv(&[0x7C], &tlv(&[0x80], &encrypted)))
            }
            [(0x80, decrypted), (0x81, challenge)] => {
                let expected = self.session.witness.take();
                if challenge.len() != block {
                    return status(SW_WRONG_DATA);
                }
                if expected.as_deref() != Some(*decrypted) {
                    self.counters.management_auth_failed += 1;
                    return status(SW_SECURITY);
                }
                self.session.management_authenticated = true;
                self.counters.management_auth_ok += 1;
                self.respond(tlv(&[0x7C], &tlv(&[0x82], &key.encrypt(challenge))))
            }
            [(0x81, [])] => {
                let challenge = random();
                self.session.card_challenge = Some(challenge.clone());
                self.session.management_authenticated = false;
                self.respond(tlv(&[0x7C], &tlv(&[0x81], &challenge)))
            }
            [(0x82, response)] => {
                let Some(challenge) = self.session.card_challenge.take() else {
                    return status(SW_CONDITIONS);
                };
                if key.encrypt(&challenge) != *response {
                    self.counters.management_auth_failed += 1;
                    return status(SW_SECURITY);
                }
                self.session.management_authenticated = true;
                self.counters.management_auth_ok += 1;
                status(SW_OK)
            }
            _ => status(SW_WRONG_DATA),
        }
    }

    fn get_data(&mut self, c: &Command<'_>) -> Outcome {
        self.counters.get_data += 1;
        let Some(id) = parse_tlvs(c.data).and_then(|t| find(&t, 0x5C)) else {
            return status(SW_WRONG_DATA);
        };
        if id == [0x7E] {
            // Discovery object: the PIV AID and the PIN usage policy.
            let aid = tlv(&[0x4F], &Applet::ALL[0].1[..11]);
            let policy = tlv(&[0x5F, 0x2F], &[0x40, 0x00]);
            return self.respond(tlv(&[0x7E], &[aid, policy].concat()));
        }
        let Some(value) = self.config.piv_objects.get(id).cloned() else {
            return status(SW_NOT_FOUND);
        };
        if id == OBJECT_PRINTED && !self.session.pin_verified {
            return status(SW_SECURITY);
        }
        self.respond(tlv(&[0x53], &value))
    }

    fn put_data(&mut self, c: &Command<'_>) -> Outcome {
        if !self.session.management_authenticated {
            return status(SW_SECURITY);
        }
        let Some(tlvs) = parse_tlvs(c.data) else {
            return status(SW_WRONG_DATA);
        };
        let (Some(id), Some(value)) = (find(&tlvs, 0x5C), find(&tlvs, 0x53)) else {
            return status(SW_WRONG_DATA);
        };
        self.counters.put_data += 1;
        if value.is_empty() {
            self.config.piv_objects.remove(id);
        } else {
            self.config.piv_objects.insert(id.to_vec(), value.to_vec());
        }
        status(SW_OK)
    }

    fn metadata(&mut self, c: &Command<'_>) -> Outcome {
        if self.config.firmware < [5, 3, 0] {
            return status(SW_INS_NOT_SUPPORTED);
        }
        self.counters.get_metadata += 1;
        let flag = |b: bool| [u8::from(b)];
        let out = match c.p2 {
            0x80 | 0x81 => {
                let (secret, default, max, left) = if c.p2 == 0x80 {
                    let cfg = &self.config;
                    (&cfg.pin, DEFAULT_PIN, cfg.pin_retries, cfg.pin_tries_left)
                } else {
                    let cfg = &self.config;
                    (&cfg.puk, DEFAULT_PUK, cfg.puk_retries, cfg.puk_tries_left)
                };
                [
                    tlv(&[0x01], &[0xFF]),
                    tlv(&[0x05], &flag(secret.as_slice() == default.as_bytes())),
                    tlv(&[0x06], &[max, left]),
                ]
                .concat()
            }
            SLOT_MANAGEMENT => {
                let key = self.config.effective_management_key();
                let default = key == ManagementKey::factory_default(self.config.firmware);
                [
                    tlv(&[0x01], &[key.algorithm()]),
                    tlv(&[0x02], &[0x00, TouchPolicy::Never.code()]),
                    tlv(&[0x05], &flag(default)),
                ]
                .concat()
            }
            slot => match self.config.piv_keys.get(&slot) {
                Some(key) => [
                    tlv(&[0x01], &[ALG_P256]),
                    tlv(
                        &[0x02],
                        &[
                            key.pin_policy.resolve(slot).code(),
                            key.touch_policy.resolve().code(),
                        ],
                    ),
                    tlv(&[0x03], &[if key.generated { 1 } else { 2 }]),
                    tlv(&[0x04], &tlv(&[0x86], &key.public_point())),
                ]
                .concat(),
                None if Self::key_slot(slot) => return status(SW_NOT_FOUND),
                None => return status(SW_WRONG_DATA),
            },
        };
        self.respond(out)
    }

    fn set_management_key(&mut self, c: &Command<'_>) -> Outcome {
        if !self.session.management_authenticated {
            return status(SW_SECURITY);
        }
        let [algorithm, SLOT_MANAGEMENT, len, key @ ..] = c.data else {
            return status(SW_WRONG_DATA);
        };
        if c.p1 != 0xFF || !(c.p2 == 0xFF || c.p2 == 0xFE) || usize::from(*len) != key.len() {
            return status(SW_WRONG_DATA);
        }
        if *algorithm != 0x03 && self.config.firmware < [5, 4, 0] {
            return status(SW_WRONG_DATA);
        }
        match ManagementKey::from_parts(*algorithm, key) {
            Some(key) => {
                self.config.management_key = Some(key);
                status(SW_OK)
            }
            None => status(SW_WRONG_DATA),
        }
    }

    fn set_pin_retries(&mut self, c: &Command<'_>) -> Outcome {
        if !self.session.management_authenticated || !self.session.pin_verified {
            return status(SW_SECURITY);
        }
        if c.p1 == 0 || c.p2 == 0 || c.p1 > 15 || c.p2 > 15 {
            return status(SW_WRONG_DATA);
        }
        // As on the real card: the PIN and PUK go back to their defaults.
        self.config.pin_retries = c.p1;
        self.config.pin_tries_left = c.p1;
        self.config.puk_retries = c.p2;
        self.config.puk_tries_left = c.p2;
        self.config.pin = DEFAULT_PIN.as_bytes().to_vec();
        self.config.puk = DEFAULT_PUK.as_bytes().to_vec();
        status(SW_OK)
    }

    fn reset_piv(&mut self) -> Outcome {
        if self.config.pin_tries_left != 0 || self.config.puk_tries_left != 0 {
            return status(SW_CONDITIONS);
        }
        let fresh = Config::new().serial(self.config.serial).firmware(
            self.config.firmware[0],
            self.config.firmware[1],
            self.config.firmware[2],
        );
        self.config.piv_keys.clear();
        self.config.piv_objects.clear();
        self.config.pin = fresh.pin;
        self.config.puk = fresh.puk;
        self.config.pin_retries = 3;
        self.config.pin_tries_left = 3;
        self.config.puk_retries = 3;
        self.config.puk_tries_left = 3;
        self.config.management_key = None;
        self.session = Session {
            applet: Some(Applet::Piv),
            ..Session::default()
        };
        status(SW_OK)
    }

    // -- OATH ---------------------------------------------------------------

    fn oath(&mut self, c: &Command<'_>) -> Outcome {
        match c.ins {
            0xA3 => return self.oath_validate(c),
            0x04 if c.p1 == 0xDE && c.p2 == 0xAD => return self.oath_reset(),
            _ => {}
        }
        if !self.session.oath_unlocked {
            return status(SW_SECURITY);
        }
        match c.ins {
            0x01 => self.oath_put(c),
            0x02 => self.oath_delete(c),
            0x03 => self.oath_set_code(c),
            0x05 => self.oath_rename(c),
            0xA1 => self.oath_list(),
            0xA2 => self.oath_calculate(c),
            0xA4 => self.oath_calculate_all(c),
            _ => status(SW_INS_NOT_SUPPORTED),
        }
    }

    fn oath_put(&mut self, c: &Command<'_>) -> Outcome {
        // TLVs, except that the property tag 0x78 has no length byte.
        let (mut name, mut key, mut touch, mut counter) = (None, None, false, 0u64);
        let mut data = c.data;
        while let Some(&tag) = data.first() {
            if tag == 0x78 {
                let Some(&property) = data.get(1) else {
                    return status(SW_WRONG_DATA);
                };
                touch = property & 0x02 != 0;
                data = &data[2..];
                continue;
            }
            let Some((len, header)) = parse_len(&data[1..]) else {
                return status(SW_WRONG_DATA);
            };
            let Some(value) = data.get(1 + header..1 + header + len) else {
                return status(SW_WRONG_DATA);
            };
            match tag {
                0x71 => name = Some(value),
                0x73 => key = Some(value),
                0x7A => {
                    let Ok(bytes) = <[u8; 4]>::try_from(value) else {
                        return status(SW_WRONG_DATA);
                    };
                    counter = u64::from(u32::from_be_bytes(bytes));
                }
                _ => {}
            }
            data = &data[1 + header + len..];
        }
        let (Some(name), Some([type_byte, digits, secret @ ..])) = (name, key) else {
            return status(SW_WRONG_DATA);
        };
        let kind = match type_byte & 0xF0 {
            0x10 => OathKind::Hotp,
            0x20 => OathKind::Totp,
            _ => return status(SW_WRONG_DATA),
        };
        let algorithm = match type_byte & 0x0F {
            1 => OathAlgorithm::Sha1,
            2 => OathAlgorithm::Sha256,
            3 => OathAlgorithm::Sha512,
            _ => return status(SW_WRONG_DATA),
        };
        if name.is_empty() || name.len() > 64 || !(6..=8).contains(digits) {
            return status(SW_WRONG_DATA);
        }
        let Ok(name) = String::from_utf8(name.to_vec()) else {
            return status(SW_WRONG_DATA);
        };
        let credential = OathCredential {
            name,
            kind,
            algorithm,
            digits: *digits,
            secret: secret.to_vec(),
            touch,
            counter,
        };
        let credentials = &mut self.config.oath_credentials;
        if let Some(existing) = credentials.iter_mut().find(|c| c.name == credential.name) {
            *existing = credential;
        } else if credentials.len() >= OATH_CAPACITY {
            return status(SW_NO_SPACE);
        } else {
            credentials.push(credential);
        }
        self.counters.oath_put += 1;
        status(SW_OK)
    }

    fn oath_name<'a>(c: &Command<'a>) -> Option<&'a [u8]> {
        let tlvs = parse_tlvs(c.data)?;
        find(&tlvs, 0x71)
    }

    fn oath_delete(&mut self, c: &Command<'_>) -> Outcome {
        let Some(name) = Self::oath_name(c) else {
            return status(SW_WRONG_DATA);
        };
        let before = self.config.oath_credentials.len();
        self.config
            .oath_credentials
            .retain(|cred| cred.name.as_bytes() != name);
        status(if self.config.oath_credentials.len() < before {
            SW_OK
        } else {
            SW_NOT_FOUND
        })
    }

    fn oath_set_code(&mut self, c: &Command<'_>) -> Outcome {
        let Some(tlvs) = parse_tlvs(c.data) else {
            return status(SW_WRONG_DATA);
        };
        match find(&tlvs, 0x73) {
            Some([]) => {
                self.config.oath_key = None;
                status(SW_OK)
            }
            Some([_algorithm, key @ ..]) => {
                let (Some(challenge), Some(response)) = (find(&tlvs, 0x74), find(&tlvs, 0x75))
                else {
                    return status(SW_WRONG_DATA);
                };
                if hmac_sha1(key, challenge) != response {
                    return status(SW_DATA_INVALID);
                }
                self.config.oath_key = Some(key.to_vec());
                status(SW_OK)
            }
            _ => status(SW_WRONG_DATA),
        }
    }

    fn oath_rename(&mut self, c: &Command<'_>) -> Outcome {
        let names: Vec<&[u8]> = parse_tlvs(c.data)
            .unwrap_or_default()
            .into_iter()
            .filter(|(t, _)| *t == 0x71)
            .map(|(_, v)| v)
            .collect();
        let [old, new] = names[..] else {
            return status(SW_WRONG_DATA);
        };
        let Ok(new) = String::from_utf8(new.to_vec()) else {
            return status(SW_WRONG_DATA);
        };
        match self
            .config
            .oath_credentials
            .iter_mut()
            .find(|c| c.name.as_bytes() == old)
        {
            Some(credential) => {
                credential.name = new;
                status(SW_OK)
            }
            None => status(SW_NOT_FOUND),
        }
    }

    fn oath_list(&mut self) -> Outcome {
        self.counters.oath_list += 1;
        let out: Vec<u8> = self
            .config
            .oath_credentials
            .iter()
            .flat_map(|c| tlv(&[0x72], &[&[c.type_byte()], c.name.as_bytes()].concat()))
            .collect();
        self.respond(out)
    }

    /// The code (or full HMAC) of a credential; bumps a HOTP counter.
    fn oath_response(&mut self, index: usize, challenge: &[u8], truncated: bool) -> Vec<u8> {
        let credential = &mut self.config.oath_credentials[index];
        let message = match credential.kind {
            OathKind::Totp => challenge.to_vec(),
            OathKind::Hotp => {
                let counter = credential.counter;
                credential.counter += 1;
                counter.to_be_bytes().to_vec()
            }
        };
        let hmac = hmac_bytes(credential.algorithm, &credential.secret, &message);
        if truncated {
            tlv(
                &[0x76],
                &[&[credential.digits][..], &truncate(&hmac).to_be_bytes()].concat(),
            )
        } else {
            tlv(&[0x75], &[&[credential.digits][..], &hmac].concat())
        }
    }

    fn oath_calculate(&mut self, c: &Command<'_>) -> Outcome {
        let Some(tlvs) = parse_tlvs(c.data) else {
            return status(SW_WRONG_DATA);
        };
        let (Some(name), Some(challenge)) = (find(&tlvs, 0x71), find(&tlvs, 0x74)) else {
            return status(SW_WRONG_DATA);
        };
        let Some(index) = self
            .config
            .oath_credentials
            .iter()
            .position(|cred| cred.name.as_bytes() == name)
        else {
            return status(SW_NOT_FOUND);
        };
        if self.config.remove_on == Some(RemoveOn::OathCalculate) {
            return Outcome::Remove;
        }
        self.counters.oath_calculate += 1;
        let truncated = c.p2 == 0x01;
        let challenge = challenge.to_vec();
        if !self.config.oath_credentials[index].touch {
            let out = self.oath_response(index, &challenge, truncated);
            return self.respond(out);
        }
        Outcome::Touch(Box::new(move |engine: &mut Engine, touched: bool| {
            if !touched {
                return sw(SW_SECURITY);
            }
            let out = engine.oath_response(index, &challenge, truncated);
            match engine.respond(out) {
                Outcome::Reply(bytes) => bytes,
                _ => sw(SW_CONDITIONS),
            }
        }))
    }

    fn oath_calculate_all(&mut self, c: &Command<'_>) -> Outcome {
        let Some(challenge) = parse_tlvs(c.data).and_then(|t| find(&t, 0x74).map(<[u8]>::to_vec))
        else {
            return status(SW_WRONG_DATA);
        };
        self.counters.oath_calculate_all += 1;
        let truncated = c.p2 == 0x01;
        let mut out = Vec::new();
        for index in 0..self.config.oath_credentials.len() {
            let credential = &self.config.oath_credentials[index];
            out.extend(tlv(&[0x71], credential.name.as_bytes()));
            let digits = credential.digits;
            match (credential.kind, credential.touch) {
                (OathKind::Hotp, _) => out.extend(tlv(&[0x77], &[digits])),
                (_, true) => out.extend(tlv(&[0x7C], &[digits])),
                _ => out.extend(self.oath_response(index, &challenge, truncated)),
            }
        }
        self.respond(out)
    }

    fn oath_validate(&mut self, c: &Command<'_>) -> Outcome {
        let Some(tlvs) = parse_tlvs(c.data) else {
            return status(SW_WRONG_DATA);
        };
        let (Some(response), Some(challenge)) = (find(&tlvs, 0x75), find(&tlvs, 0x74)) else {
            return status(SW_WRONG_DATA);
        };
        let (Some(key), Some(ours)) = (
            self.config.oath_key.clone(),
            self.session.oath_challenge.take(),
        ) else {
            return status(SW_DATA_INVALID);
        };
        if hmac_sha1(&key, &ours) != response {
            self.counters.oath_validate_failed += 1;
            return status(SW_DATA_INVALID);
        }
        self.counters.oath_validate_ok += 1;
        self.session.oath_unlocked = true;
        self.respond(tlv(&[0x75], &hmac_sha1(&key, challenge)))
    }

    fn oath_reset(&mut self) -> Outcome {
        self.config.oath_credentials.clear();
        self.config.oath_key = None;
        OsRng.fill_bytes(&mut self.config.oath_salt);
        self.session.oath_unlocked = true;
        self.session.oath_challenge = None;
        status(SW_OK)
    }

    // -- OTP and management: enough to read the serial ------------------------

    fn otp(&mut self, c: &Command<'_>) -> Outcome {
        match (c.ins, c.p1) {
            (0x01, 0x10) => self.respond(self.config.serial.to_be_bytes().to_vec()),
            _ => status(SW_INS_NOT_SUPPORTED),
        }
    }

    fn management(&mut self, c: &Command<'_>) -> Outcome {
        if c.ins != 0x1D {
            return status(SW_INS_NOT_SUPPORTED);
        }
        // GET DEVICE INFO: serial, version, form factor (USB-A keychain),
        // USB applications supported and enabled (OTP, U2F, OATH, PIV, OpenPGP, FIDO2).
        let body = [
            tlv(&[0x02], &self.config.serial.to_be_bytes()),
            tlv(&[0x05], &self.config.firmware),
            tlv(&[0x04], &[0x01]),
            tlv(&[0x01], &[0x02, 0x3B]),
            tlv(&[0x03], &[0x02, 0x3B]),
        ]
        .concat();
        let mut out = vec![body.len() as u8];
        out.extend(body);
        self.respond(out)
    }
}

/// The card without a reader, for tests of its logic: touch is answered from
/// [`Config::touch`] at once (Immediate and After touch, Manual and Never do
/// not) and [`RemoveOn`] triggers answer nothing.
pub struct Card {
    engine: Engine,
}

impl Card {
    pub fn new(config: Config) -> Card {
        Card {
            engine: Engine::new(config),
        }
    }

    /// One APDU; the response with its status word (empty if pulled out).
    pub fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        match self.engine.apdu(apdu) {
            Outcome::Reply(bytes) => bytes,
            Outcome::Remove => Vec::new(),
            Outcome::Touch(finish) => {
                let touched =
                    matches!(self.engine.config.touch, Touch::Immediate | Touch::After(_));
                self.engine.counters.touch_requests += 1;
                self.engine.counters.touches += u32::from(touched);
                finish(&mut self.engine, touched)
            }
        }
    }

    /// A vpcd control byte; the ATR for 0x04.
    pub fn control(&mut self, byte: u8) -> Option<Vec<u8>> {
        self.engine.control(byte)
    }

    pub fn counters(&self) -> &Counters {
        &self.engine.counters
    }

    pub fn state(&self) -> &Config {
        &self.engine.config
    }
}

// ---------------------------------------------------------------------------
// The card in the reader: a thread speaking vpcd's protocol.

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connected,
    /// pcscd saw it (first ATR request).
    Seen,
    Powered,
    /// Powered and its ATR read again: pcscd reports it present.
    Ready,
}

struct Live {
    engine: Engine,
    phase: Phase,
    removed: bool,
    waiting_for_touch: bool,
    touched: bool,
}

struct Shared {
    live: Mutex<Live>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&Live) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut live = self.lock();
        loop {
            if done(&live) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            live = self
                .changed
                .wait_timeout(live, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A virtual YubiKey in vpcd's reader. Dropping it pulls it out.
pub struct VirtualYubiKey {
    port: u16,
    serial: u32,
    shared: Arc<Shared>,
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
    /// The rig lock, held while inserted (None while plugging in).
    _rig: Option<RigHold>,
}

impl VirtualYubiKey {
    /// Plugs a card with `config` into the vpcd slot listening on `port`
    /// (see [`vpcd_port`]) and returns once pcscd reports it present and
    /// powered, so that clients see it at once. Takes the rig lock until the
    /// card is removed.
    ///
    /// First waits for pcscd to report the slot empty: vpcd accepts a card
    /// only when it polls, and when it learnt of the previous card's removal
    /// in a client's command (not in its own poll), a new card accepted by
    /// the next poll would look to pcscd like the old one never left: no
    /// insertion event, no power-up.
    pub fn insert(port: u16, config: Config) -> VirtualYubiKey {
        let rig = RigHold::acquire();
        let reader = reader_for_port(port);
        if let Some(reader) = &reader {
            assert!(
                wait_reader(reader, pcsc::State::EMPTY, INSERT_TIMEOUT),
                "virtual YubiKey on port {port}: pcscd still reports a card in {}",
                reader.to_string_lossy()
            );
        }
        // pcsc-lite 1.9.9 can still miss the insertion: when a client's
        // command was what found the previous card gone, pcscd marks the slot
        // empty but its event thread still believes in the old card, and
        // takes the new one for it (ATR requests, a power-down, no
        // power-up). A card that is seen but not powered within a second is
        // pulled and plugged in again: the event thread then sees the removal.
        let mut config = config;
        let mut attempts = 0;
        let card = loop {
            attempts += 1;
            let card = VirtualYubiKey::plug(port, config);
            let seen = card.shared.wait_until(INSERT_TIMEOUT, |live| {
                live.phase >= Phase::Seen || live.removed
            });
            let ready = seen
                && card.shared.wait_until(POWER_UP_TIMEOUT, |live| {
                    live.phase == Phase::Ready || live.removed
                });
            let phase = card.shared.lock().phase;
            if ready && phase == Phase::Ready {
                break card;
            }
            assert!(
                phase == Phase::Seen && attempts < 3,
                "virtual YubiKey on port {port}: pcscd did not power it within {INSERT_TIMEOUT:?} \
                 (is the pcscd at PCSCLITE_CSOCK_NAME the one with this port?)"
            );
            eprintln!(
                "vyubikey:{port}: pcscd saw the card but did not power it; plugging it in again"
            );
            let mut card = card;
            card.pull();
            config = card.state();
        };
        let mut card = card;
        card._rig = Some(rig);
        match &reader {
            // pcscd publishes the reader state right after it reads the ATR.
            Some(reader) => assert!(
                wait_reader(reader, pcsc::State::PRESENT, INSERT_TIMEOUT),
                "virtual YubiKey on port {port}: powered, but pcscd does not report it present"
            ),
            None => thread::sleep(Duration::from_millis(30)),
        }
        card
    }

    /// Connects to vpcd and starts the card's thread.
    fn plug(port: u16, config: Config) -> VirtualYubiKey {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| {
            panic!(
                "virtual YubiKey: cannot connect to vpcd on 127.0.0.1:{port}: {e}. \
                 Is the rig running? (scripts/pcsc-rig start; AVAULT_VPCD_PORT)"
            )
        });
        let _ = stream.set_nodelay(true);
        let serial = config.serial;
        let shared = Arc::new(Shared {
            live: Mutex::new(Live {
                engine: Engine::new(config),
                phase: Phase::Connected,
                removed: false,
                waiting_for_touch: false,
                touched: false,
            }),
            changed: Condvar::new(),
        });
        let socket = stream.try_clone().expect("clone the card's socket");
        let thread = thread::Builder::new()
            .name(format!("vyubikey-{port}"))
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(&shared, socket, port)
            })
            .expect("spawn the card's thread");
        VirtualYubiKey {
            port,
            serial,
            shared,
            stream,
            thread: Some(thread),
            _rig: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    pub fn counters(&self) -> Counters {
        self.shared.lock().engine.counters.clone()
    }

    /// The persistent state now (keys, objects, PIN counters, OATH data).
    pub fn state(&self) -> Config {
        self.shared.lock().engine.config.clone()
    }

    /// The public key in a PIV slot.
    pub fn piv_public_key(&self, slot: u8) -> Option<p256::PublicKey> {
        self.shared
            .lock()
            .engine
            .config
            .piv_keys
            .get(&slot)
            .map(PivKey::public_key)
    }

    pub fn pin_tries_left(&self) -> u8 {
        self.shared.lock().engine.config.pin_tries_left
    }

    /// Whether the card is waiting for a touch now.
    pub fn is_waiting_for_touch(&self) -> bool {
        self.shared.lock().waiting_for_touch
    }

    /// Waits until the card asks for a touch; false on timeout.
    pub fn wait_for_touch_request(&self, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |live| live.waiting_for_touch || live.removed)
            && self.is_waiting_for_touch()
    }

    /// The user touches the card (for [`Touch::Manual`]): waits up to
    /// [`TOUCH_TIMEOUT`] for the card to ask; false if it never did.
    pub fn touch(&self) -> bool {
        if !self.wait_for_touch_request(TOUCH_TIMEOUT) {
            return false;
        }
        let mut live = self.shared.lock();
        live.touched = true;
        self.shared.changed.notify_all();
        true
    }

    /// False once the card is out: removed, pulled by a [`RemoveOn`]
    /// trigger, or dropped by vpcd.
    pub fn is_inserted(&self) -> bool {
        !self.shared.lock().removed
    }

    /// Waits until the card is out (see [`VirtualYubiKey::is_inserted`]).
    pub fn wait_removed(&self, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, |live| live.removed)
    }

    /// Pulls the card out and waits (up to 10 s) until pcscd reports the
    /// slot empty; returns the card's state, which can be inserted again.
    pub fn remove(mut self) -> Config {
        self.pull();
        if let Some(reader) = reader_for_port(self.port) {
            wait_reader(&reader, pcsc::State::EMPTY, INSERT_TIMEOUT);
        }
        self.state()
    }

    fn pull(&mut self) {
        {
            let mut live = self.shared.lock();
            live.removed = true;
            self.shared.changed.notify_all();
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for VirtualYubiKey {
    fn drop(&mut self) {
        self.pull();
    }
}

/// The pcscd reader of the vpcd slot on `port`, when the rig's environment
/// says which pcscd and ports (slot n = `AVAULT_VPCD_PORT` + n; the readers
/// are "Virtual PCD 00 00", "Virtual PCD 00 01").
pub fn reader_for_port(port: u16) -> Option<CString> {
    std::env::var_os("PCSCLITE_CSOCK_NAME")?;
    let base: u16 = std::env::var("AVAULT_VPCD_PORT")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let slot = usize::from(port.checked_sub(base)?);
    let ctx = pcsc::Context::establish(pcsc::Scope::User).ok()?;
    let mut readers: Vec<CString> = ctx
        .list_readers_owned()
        .ok()?
        .into_iter()
        .filter(|r| r.to_bytes().starts_with(b"Virtual PCD"))
        .collect();
    readers.sort();
    readers.get(slot).cloned()
}

/// Waits until pcscd reports `want` (EMPTY or PRESENT) for a reader.
fn wait_reader(reader: &CStr, want: pcsc::State, timeout: Duration) -> bool {
    let Ok(ctx) = pcsc::Context::establish(pcsc::Scope::User) else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    let mut states = [pcsc::ReaderState::new(
        reader.to_owned(),
        pcsc::State::UNAWARE,
    )];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if ctx.get_status_change(left, &mut states).is_err() {
            return false;
        }
        if states[0].event_state().contains(want) {
            return true;
        }
        states[0].sync_current_state();
    }
}

/// One vpcd message. vpcd (Debian's 3.3) writes the length and the bytes
/// in two send() calls without TCP_NODELAY: Nagle holds the bytes until the
/// length is acknowledged, and a delayed ACK would cost ~40 ms per APDU. So
/// the card acknowledges at once (TCP_QUICKACK, which Linux clears as it
/// goes, hence before every read).
fn read_message(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let _ = rustix::net::sockopt::set_tcp_quickack(&*stream, true);
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let _ = rustix::net::sockopt::set_tcp_quickack(&*stream, true);
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message)?;
    Ok(message)
}

fn write_message(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(message.len()).unwrap_or(u16::MAX);
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(message);
    stream.write_all(&out)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// An APDU for the trace, without the data of commands that carry secrets.
fn redacted(apdu: &[u8]) -> String {
    const SECRET_INS: [u8; 7] = [0x20, 0x24, 0x2C, 0xFE, 0xFF, 0x01, 0x03];
    match apdu {
        [_, ins, ..] if SECRET_INS.contains(ins) && apdu.len() > 5 => {
            format!("{} [{} bytes redacted]", hex(&apdu[..5]), apdu.len() - 5)
        }
        _ => hex(apdu),
    }
}

/// The card's side of the connection, until it is pulled out.
fn run(shared: &Shared, mut stream: TcpStream, port: u16) {
    let trace = std::env::var_os("AVAULT_VYUBIKEY_TRACE").is_some_and(|v| !v.is_empty());
    while let Ok(message) = read_message(&mut stream) {
        let control = message.len() == 1;
        let outcome = {
            let mut live = shared.lock();
            if live.removed {
                break;
            }
            if let [byte] = message[..] {
                let answer = live.engine.control(byte);
                live.phase = match (byte, live.phase) {
                    (0x04, Phase::Connected) => Phase::Seen,
                    (0x01, Phase::Seen) => Phase::Powered,
                    (0x04, Phase::Powered) => Phase::Ready,
                    (_, phase) => phase,
                };
                shared.changed.notify_all();
                if trace && (byte != 0x04 || live.phase != Phase::Ready) {
                    eprintln!("vyubikey:{port} control {byte:02X}");
                }
                answer.map(Outcome::Reply)
            } else if message.is_empty() {
                None
            } else {
                if trace {
                    eprintln!("vyubikey:{port} > {}", redacted(&message));
                }
                Some(live.engine.apdu(&message))
            }
        };
        let answer = match outcome {
            None => continue,
            Some(Outcome::Reply(bytes)) => bytes,
            Some(Outcome::Remove) => break,
            Some(Outcome::Touch(finish)) => match wait_for_touch(shared) {
                Some(touched) => finish(&mut shared.lock().engine, touched),
                None => break,
            },
        };
        if trace && !control {
            let code = answer.len().saturating_sub(2);
            eprintln!(
                "vyubikey:{port} < [{} bytes] {}",
                code,
                hex(&answer[code..])
            );
        }
        if write_message(&mut stream, &answer).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    let mut live = shared.lock();
    live.removed = true;
    live.waiting_for_touch = false;
    shared.changed.notify_all();
}

/// Asks the simulated user for a touch; Some(touched), None if the card was
/// pulled out meanwhile.
fn wait_for_touch(shared: &Shared) -> Option<bool> {
    let mut live = shared.lock();
    live.engine.counters.touch_requests += 1;
    live.waiting_for_touch = true;
    live.touched = false;
    shared.changed.notify_all();
    let (limit, touches) = match live.engine.config.touch {
        Touch::Immediate => (Duration::ZERO, true),
        Touch::After(delay) => (delay, true),
        Touch::Manual => (TOUCH_TIMEOUT, false),
        Touch::Never(timeout) => (timeout, false),
    };
    let start = Instant::now();
    let touched = loop {
        if live.removed {
            live.waiting_for_touch = false;
            return None;
        }
        if live.touched {
            break true;
        }
        let elapsed = start.elapsed();
        if elapsed >= limit {
            break touches;
        }
        live = shared
            .changed
            .wait_timeout(live, limit - elapsed)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    };
    live.waiting_for_touch = false;
    live.touched = false;
    live.engine.counters.touches += u32::from(touched);
    shared.changed.notify_all();
    Some(touched)
}
