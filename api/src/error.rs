//! The one table of JSON-RPC error codes the node answers and the SDK matches on.

use jsonrpsee::types::ErrorObjectOwned;

/// Defines [`ErrorCode`], its [`ErrorCode::ALL`] list and [`ErrorCode::describe`] from one table.
macro_rules! codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        /// Every error code of the paychain JSON-RPC interface.
        ///
        /// Ranges: JSON-RPC standard (negative), 10xx mempool admission, 20xx chain queries, 30xx
        /// wallet queries, 31xx collections, 32xx store orders, 33xx guardian bindings, 40xx
        /// enclave lookups, 50xx the server's bounds on a client, 6000-6049 the consortium CA. Messages are one line (at most
        /// [`MAX_MESSAGE_BYTES`], quoting at most [`QUOTE_CHARS`] characters of what was sent);
        /// the code is what programs match on.
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
        "Storage (or task) trouble on the node (JSON-RPC standard); the message says only `internal error (logged as #N)`, the node logs the detail under that number.";
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
        "Too many submitted transactions (`paychain_submitTxs`) or calls wait for a core: retry later.";
    UnknownSender = 1011,
        "The sender's key is not known to this chain (not a member, validator, verified user or merchant in the latest committed state): a platform must onboard it first (`VerifyUser`, `RegisterMerchant`). Refused before any signature work; in a block, the same refusal is receipt code 3 and writes nothing.";
    SlowedDown = 1012,
        "The sender, or the address submitting, failed at the door too often (unknown sender, bad signature, nonce too far ahead, undecodable): its transactions are refused until the time the message names (`retry after N ms`; for an address also `data.retry_after_ms`); `[mempool] door_failure_burst`, `door_failures_per_sec`, `door_failure_burst_per_ip`, `door_failures_per_sec_per_ip`.";
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
    ProofRequestTooLarge = 2006,
        "`paychain_provenState` was asked more than 32 keys, or a key longer than 512 bytes: ask fewer, shorter keys.";
    NoCertifiedState = 2007,
        "The node has no certified state to prove from yet (it committed no block since it started): retry after its next block.";
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
    LookupRateLimited = 4005,
        "The requester key made more enclave requests than its rate allows: the message says `rate limited, retry after N ms`.";
    EnclaveNotServing = 4006,
        "The node's enclave does not serve: retired (its platform removed), its measurement revoked, or below the minimum security version.";
    AuditRefused = 4007,
        "The audit read was refused: not the platform's own key, bad signature, another enclave, stale or replayed.";
    RateLimited = 5001,
        "The caller's IP made more calls than `[rpc] max_calls_per_sec_per_ip` allows (a batch of n calls counts n): retry after `data.retry_after_ms`. Over HTTP the status is also 429 with a `Retry-After` header.";
    BatchTooLarge = 5002,
        "The batch holds more calls than `[rpc] max_batch_calls`: none of them ran; send smaller batches.";
    TooManyConnections = 5003,
        "The connection was refused as it arrived: its IP holds `[rpc] max_connections_per_ip` connections, or the node `max_connections` (HTTP 429 with a `Retry-After` header and this error as the body; the limit is in `data`).";
    UnknownPartyCert = 6000,
        "No certificate is registered for this key.";
    UnknownPlatformCa = 6001,
        "Governance never approved a CA for this platform.";
    ReadNotSigned = 6100,
        "A private method was called without a signed read: its one param must be the hex of a SignedRead (≤ 512 bytes) asking that method.";
    ReadBadSignature = 6101,
        "The signed read's signature does not verify under the requester key it names (signed by another key, or altered).";
    ReadExpired = 6102,
        "The signed read's `valid_until_height` is below the tip (stale), or more than 100 blocks above it: sign a fresh one.";
    ReadNotEntitled = 6103,
        "The requester may not read this (not a party, not a party's platform, not the regulator), or it does not exist.";
    ReadMismatch = 6104,
        "The signed read is for another chain or another method, or its reply key is a low-order X25519 point.";
}

/// The longest error message the node sends, in bytes (longer ones are cut, ending in `…`).
pub const MAX_MESSAGE_BYTES: usize = 512;

/// The most characters of a caller's input an error message quotes.
pub const QUOTE_CHARS: usize = 64;

/// `s` as an error message quotes caller input: in double quotes and escaped as Rust's `{:?}`
/// does, its first [`QUOTE_CHARS`] characters only, then `…` when there was more.
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}

/// `message` cut to at most [`MAX_MESSAGE_BYTES`] bytes (at a character boundary, ending in `…`).
pub fn clip(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let ellipsis = '…';
        let mut cut = MAX_MESSAGE_BYTES - ellipsis.len_utf8();
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push(ellipsis);
    }
    message
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

    /// An error object with this code and a one-line `message` (no data), cut to
    /// [`MAX_MESSAGE_BYTES`].
    pub fn err(self, message: impl Into<String>) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(self.code(), clip(message.into()), None::<()>)
    }

    /// [`ErrorCode::err`] with `data` (what a program needs beyond the code, e.g. a limit).
    pub fn err_with(
        self,
        message: impl Into<String>,
        data: impl serde::Serialize,
    ) -> ErrorObjectOwned {
        ErrorObjectOwned::owned(self.code(), clip(message.into()), Some(data))
    }

    /// [`ErrorCode::Internal`] for a fault the node logged as `#id` (its detail stays in the log).
    pub fn internal(id: u64) -> ErrorObjectOwned {
        ErrorCode::Internal.err(format!("internal error (logged as #{id})"))
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
    use super::{clip, quote, ErrorCode, MAX_MESSAGE_BYTES, QUOTE_CHARS};

    #[test]
    fn input_is_quoted_short_and_messages_are_bounded() {
        assert_eq!(quote("zz"), "\"zz\"");
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
        let long = "x".repeat(500_000);
        let q = quote(&long);
        assert_eq!(q, format!("\"{}\"…", "x".repeat(QUOTE_CHARS)));
        // Characters, not bytes: a multi-byte character is never split.
        let wide = "é".repeat(100);
        assert_eq!(quote(&wide), format!("\"{}\"…", "é".repeat(QUOTE_CHARS)));
        assert_eq!(
            quote(&"é".repeat(QUOTE_CHARS)),
            format!("{:?}", "é".repeat(QUOTE_CHARS))
        );

        assert_eq!(clip("short".into()), "short");
        let cut = clip("é".repeat(MAX_MESSAGE_BYTES));
        assert!(
            cut.len() <= MAX_MESSAGE_BYTES && cut.ends_with('…'),
            "{}",
            cut.len()
        );
        let e = ErrorCode::OrderNotPaid.err(format!("order {} is not paid", "y".repeat(1 << 20)));
        assert!(e.message().len() <= MAX_MESSAGE_BYTES);
    }

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
