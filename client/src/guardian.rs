//! Guardian-delegated payment from the client side: the registration terminal's code, the
//! biometric hash, the node's guardian queries and the guardian's notifications.
//!
//! ```text
//! terminal:  Terminal::new(device, business type).code_text() ─► QR on the terminal
//! dependant: scan ─► Terminal::parse ─► RequestBinding { guardian, terminal } tx
//! guardian:  subscribe_events(kind_prefix "guardian_", guardian = me) ─► request ─► Approve tx
//! dependant: paychain pay --binding ─► Guardian::Pay tx (see crate::pay)
//! guardian:  paychain_guardianStatement(binding, YYYY-MM)
//! ```
//!
//! The chain checks every rule ([`paychain_contracts::guardian`]); this module only reads codes
//! and talks to the node.

use paychain_api::{method, GuardianApiClient};
use paychain_contracts::api::{EventFilter, GuardianBindingsView};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::guardian::{self, Binding, Statement};
use rand::RngCore;

use crate::rpc;

pub use paychain_contracts::guardian::Terminal;

impl rpc::Client {
    /// `paychain_guardianBinding`.
    pub async fn guardian_binding(&self, id: &Hash) -> Result<Binding, rpc::Error> {
        self.run(
            method::GUARDIAN_BINDING,
            self.api().guardian_binding((*id).into()),
        )
        .await
    }

    /// `paychain_guardianBindings`: the bindings where `key` is guardian or dependant, newest
    /// first.
    pub async fn guardian_bindings(
        &self,
        key: &PublicKey,
    ) -> Result<GuardianBindingsView, rpc::Error> {
        self.run(
            method::GUARDIAN_BINDINGS,
            self.api().guardian_bindings((*key).into(), None),
        )
        .await
    }

    /// `paychain_guardianStatement` for `month` (`YYYY-MM`).
    pub async fn guardian_statement(
        &self,
        binding: &Hash,
        month: &str,
    ) -> Result<Statement, rpc::Error> {
        let call = self
            .api()
            .guardian_statement((*binding).into(), month.to_owned().into());
        self.run(method::GUARDIAN_STATEMENT, call).await
    }
}

/// The events a guardian is told about: every `guardian_*` event naming `guardian`.
pub fn guardian_filter(guardian: &PublicKey) -> EventFilter {
    EventFilter {
        kind_prefix: Some("guardian_".into()),
        attribute: Some(("guardian".into(), guardian.to_hex())),
    }
}

/// A biometric binding for `template` with a fresh random salt.
pub fn new_biometric(template: &[u8]) -> guardian::Biometric {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = Hash(salt);
    guardian::Biometric {
        salt,
        template_hash: guardian::biometric_hash(&salt, template),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use paychain_contracts::executor::Event;

    #[test]
    fn filter_matches_only_this_guardians_events() {
        let me = PublicKey([1; 32]);
        let f = guardian_filter(&me);
        let mine = Event::new("guardian_binding_requested").with("guardian", me.to_hex());
        let other = Event::new("guardian_binding_requested").with("guardian", "00");
        let not_guardian = Event::new("payment").with("guardian", me.to_hex());
        assert!(f.matches(&mine));
        assert!(!f.matches(&other));
        assert!(!f.matches(&not_guardian));
    }

    #[test]
    fn biometric_salts_differ_and_hashes_verify() {
        let a = new_biometric(b"t");
        let b = new_biometric(b"t");
        assert_ne!(a.salt, b.salt);
        assert_eq!(a.template_hash, guardian::biometric_hash(&a.salt, b"t"));
        assert_ne!(a.template_hash, b.template_hash);
    }
}
