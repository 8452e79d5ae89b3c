//! The one table of JSON-RPC error codes the node answers and the SDK matches on.

use jsonrpsee::types::ErrorObjectOwned;

/// Defines [`ErrorCode`], its [`ErrorCode::ALL`] list and [`ErrorCode::describe`] from one table.
macro_rules! codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        /// Every error code of the paychain JSON-RPC interface.
        ///
        /// Ranges: JSON-RPC standard (negative), 10xx mempool admission, 20xx chain queries, 30xx
        /// wallet queries, 31xx collections, 32xx store orders, 33xx guardian bindings, 40xx
        /// enclave lookups. Messages are one line; the code is what programs match on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum ErrorCode {
            $(#[doc = $text] $name = $code,)*
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// What the code means (one line, for the reference).
            pub const fn describe(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $text,)*
                }
            }
        }
    };
}

codes! {
    InvalidParams = -32602,
        "Malformed params: missing, of the wrong JSON type, or not parsable (JSON-RPC standard).";
    Internal = -32603,
        "Storage (or task) trouble on the node (JSON-RPC standard).";
    TxTooLarge = 1001,
        "The transaction is larger than the codec's limit.";
    TxDecode = 1002,
        "The bytes do not decode as a transaction (or are not hex).";
    TxInvalid = 1003,
        "Wrong chain id, bad signature, or refused by the chain's record policy.";
    StaleNonce = 1004,
        "The nonce is below the sender's committed nonce.";
    NonceTooHigh = 1005,
        "The nonce is too far above the sender's committed nonce.";
    NonceTaken = 1006,
        "Another pending transaction of the sender has this nonce.";
    Duplicate = 1007,
        "The transaction is already pending.";
    SenderFull = 1008,
        "The sender has too many pending transactions.";
    MempoolFull = 1009,
        "The mempool is full: retry later.";
    Busy = 1010,
        "Too many submitted transactions wait for a core (`paychain_submitTxs`): retry later.";
    UnknownMerchant = 2001,
        "No such merchant.";
    NoRecord = 2002,
        "The platform has no acquiring record for the merchant.";
    UnknownPlatform = 2003,
        "No such platform (reserved; no method answers it today).";
    NotCommitted = 2004,
        "The transaction is not committed.";
    NotYetCertifiable = 2005,
        "The transaction's certificate needs the next block to be committed.";
    UnknownWallet = 3001,
        "No such wallet.";
    UnknownPayment = 3003,
        "No such payment.";
    OrderNotPaid = 3004,
        "The merchant's order is not paid.";
    UnknownCardBinding = 3005,
        "No such card binding (wallet range; an unknown guardian binding is 3301: the node's code tables once named both `UNKNOWN_BINDING`, both numbers stay on the wire).";
    UnknownProposal = 3006,
        "No such governance proposal.";
    NotWalletHost = 3007,
        "The platform is not a qualified wallet host.";
    UnknownCollection = 3101,
        "No such split-bill collection.";
    UnknownOrder = 3201,
        "No such store order.";
    UnknownGuardianBinding = 3301,
        "No such guardian binding (guardian range; an unknown card binding is 3005).";
    NoEnclave = 4001,
        "The node has no enclave.";
    NotProvisioned = 4002,
        "The node's enclave is not provisioned with the consortium secret yet.";
    LookupRefused = 4003,
        "The enclave refused the lookup (role, replay, signature, ...).";
    MalformedLookup = 4004,
        "The lookup (or audit request) is malformed (not hex, too large, does not decode).";
    RateLimited = 4005,
        "The requester key made more enclave requests than its rate allows: the message says `rate limited, retry after N ms`.";
    EnclaveNotServing = 4006,
        "The node's enclave does not serve: retired (its platform removed), its measurement revoked, or below the minimum security version.";
    AuditRefused = 4007,
        "The audit read was refused: not the platform's own key, bad signature, another enclave, stale or replayed.";
}

impl ErrorCode {
    /// The number on the wire.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The code of `code`, if it is one of ours.
    pub fn from_code(code: i32) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// An error object with this code and a one-line `message` (no data).
    pub fn err(self, message: impl Into<String>) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(self.code(), message.into(), None::<()>)
    }

    /// [`ErrorCode::Internal`] with the node's storage error `e`.
    pub fn storage(e: impl std::fmt::Display) -> ErrorObjectOwned {
        ErrorCode::Internal.err(format!("node storage error: {e}"))
    }

    /// Whether `e` carries this code.
    pub fn is(self, e: &ErrorObjectOwned) -> bool {
        e.code() == self.code()
    }
}

impl From<ErrorCode> for i32 {
    fn from(c: ErrorCode) -> i32 {
        c.code()
    }
}

impl PartialEq<i32> for ErrorCode {
    fn eq(&self, other: &i32) -> bool {
        self.code() == *other
    }
}

impl PartialEq<ErrorCode> for i32 {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.code()
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            seen.insert(c.code());
        }
        assert_eq!(ErrorCode::from_code(0), None);
        assert_eq!(ErrorCode::UnknownCardBinding.code(), 3005);
        assert_eq!(ErrorCode::UnknownGuardianBinding.code(), 3301);
        assert_eq!(ErrorCode::Busy, 1010);
        assert_eq!(seen.len(), ErrorCode::ALL.len());
    }
}
