//! Credentials a server hands out, held in memory and refreshed before
//! they expire: one refresh at a time, however many requests arrive.

use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use crate::creds::{Credentials, CredsError};

type Fetch = dyn Fn() -> Result<Credentials, CredsError> + Send + Sync;

/// Credentials with a way to get new ones.
pub struct Supply {
    fetch: Box<Fetch>,
    current: RwLock<Option<Credentials>>,
    refresh: Mutex<()>,
    min_left: Duration,
}

impl Supply {
    /// A supply that calls `fetch` when it has nothing, or less than
    /// `min_left` remains (`AWS_MIN_TTL`).
    pub fn new(
        min_left: Duration,
        fetch: impl Fn() -> Result<Credentials, CredsError> + Send + Sync + 'static,
    ) -> Supply {
        Supply {
            fetch: Box::new(fetch),
            current: RwLock::new(None),
            refresh: Mutex::new(()),
            min_left,
        }
    }

    fn fresh(&self) -> Option<Credentials> {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        let c = current.as_ref()?;
        match c.remaining(OffsetDateTime::now_utc()) {
            Some(left) if left.whole_seconds() <= self.min_left.as_secs() as i64 => None,
            _ => Some(c.clone()),
        }
    }

    /// Current credentials, refreshed first when needed. Callers that
    /// arrive during a refresh wait for it and share its result.
    pub fn get(&self) -> Result<Credentials, CredsError> {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let _refreshing = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let c = (self.fetch)()?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(c.clone());
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn creds(lifetime: i64) -> Credentials {
        Credentials {
            access_key_id: "ASIATEST".into(),
            secret_access_key: SecretString::from("s".to_owned()),
            session_token: Some(SecretString::from("t".to_owned())),
            expiration: Some(OffsetDateTime::now_utc() + time::Duration::seconds(lifetime)),
        }
    }

    #[test]
    fn one_fetch_for_a_burst_and_again_near_expiry() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let lifetime = Arc::new(std::sync::atomic::AtomicI64::new(3600));
        let life = Arc::clone(&lifetime);
        let supply = Arc::new(Supply::new(Duration::from_secs(300), move || {
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            Ok(creds(life.load(Ordering::SeqCst)))
        }));
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let s = Arc::clone(&supply);
                std::thread::spawn(move || s.get().map(|c| c.access_key_id))
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().expect("join").expect("creds"), "ASIATEST");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Credentials inside the refresh margin are replaced.
        lifetime.store(100, Ordering::SeqCst);
        *supply.current.write().expect("lock") = Some(creds(100));
        supply.get().expect("creds");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_fetch_is_reported_and_retried() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let supply = Supply::new(Duration::from_secs(300), move || {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(CredsError::Missing {
                    profile: "p".into(),
                })
            } else {
                Ok(creds(3600))
            }
        });
        assert!(supply.get().is_err());
        assert!(supply.get().is_ok());
    }
}
