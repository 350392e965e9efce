//! The management key's block cipher: 3DES (alg 0x03) or AES-192 (0x0A).

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};

use super::HwError;

/// A management key ready to answer the card's challenge.
pub(crate) enum BlockCipher {
    TripleDes(Box<des::TdesEde3>),
    Aes192(Box<aes::Aes192>),
}

impl BlockCipher {
    pub(crate) fn new(alg: u8, key: &[u8; 24]) -> Result<BlockCipher, HwError> {
        match alg {
            0x03 => des::TdesEde3::new_from_slice(key)
                .map(|c| BlockCipher::TripleDes(Box::new(c)))
                .map_err(|_| HwError::ManagementKey),
            0x0a => aes::Aes192::new_from_slice(key)
                .map(|c| BlockCipher::Aes192(Box::new(c)))
                .map_err(|_| HwError::ManagementKey),
            other => Err(HwError::UnsupportedManagementKey { alg: other }),
        }
    }

    pub(crate) fn block_len(&self) -> usize {
        match self {
            BlockCipher::TripleDes(_) => 8,
            BlockCipher::Aes192(_) => 16,
        }
    }

    pub(crate) fn encrypt(&self, block: &[u8]) -> Vec<u8> {
        let mut b = block.to_vec();
        match self {
            BlockCipher::TripleDes(c) => c.encrypt_block(b.as_mut_slice().into()),
            BlockCipher::Aes192(c) => c.encrypt_block(b.as_mut_slice().into()),
        }
        b
    }

    pub(crate) fn decrypt(&self, block: &[u8]) -> Vec<u8> {
        let mut b = block.to_vec();
        match self {
            BlockCipher::TripleDes(c) => c.decrypt_block(b.as_mut_slice().into()),
            BlockCipher::Aes192(c) => c.decrypt_block(b.as_mut_slice().into()),
        }
        b
    }
}
