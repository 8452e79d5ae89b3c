//! **Test-only** fault injection, for the multi-process fault tests (`tests/it/byzantine.rs`,
//! `tests/it/disk.rs`). Never for production.
//!
//! Switches (environment variables, read once when the node starts):
//!
//! | variable | effect |
//! |---|---|
//! | `PAYCHAIN_TEST_BYZANTINE=invalid-proposal` | as proposer, propose only invalid blocks: alternately one holding a transaction with a bad signature, and one with a wrong `prev_app_hash` |
//! | `PAYCHAIN_TEST_BYZANTINE=unknown-sender` | as proposer, add to every block it proposes a validly signed payment from a fresh key the chain does not know (a valid block: every validator must refuse that transaction in execution with receipt code 3 and write nothing) |
//! | `PAYCHAIN_TEST_BYZANTINE=garbage` | flood peers with garbage: undecodable transaction gossip, proposal streams impersonating the round's proposer, and replays of genuine proposals with tampered block bytes |
//! | `PAYCHAIN_TEST_BYZANTINE=invalid-proposal,garbage` | both |
//! | `PAYCHAIN_TEST_BYZANTINE=own-peer-id` | derive the libp2p identity from the validator key with another salt: a second node run with the same validator key (double signing) then has its own peer id instead of sharing the first one's |
//! | `PAYCHAIN_TEST_BYZANTINE=equivocate` | for a node run with the same validator key as another (`own-peer-id`): a proposal made with that key by the other host is handed to consensus only once this node has proposed its own block for that round, so it signs and votes for a block of its own in every one of the validator's turns instead of adopting the other host's when it arrives first (each such turn yields two conflicting proposals and prevotes: deterministic double signing), and can still commit the other block if it is decided |
//! | `PAYCHAIN_TEST_BYZANTINE=forge-role` | the enclave host lies to its enclave: a lookup by a key with no role at the platform it names comes with evidence claiming the key is that platform's member key (the genuine proof, a forged value); a private read on a chain with private state comes with evidence claiming the requester is the regulator |
//! | `PAYCHAIN_TEST_CLOCK_OFFSET_MS=<±ms>` | the node's clock reads this far off (a skewed host clock): its proposals' times and its check of others' are shifted |
//! | `PAYCHAIN_TEST_FAIL_COMMIT_AT=<height>` | the storage write committing block `<height>` fails (as a full or broken disk would), so the node stops with its error |
//!
//! Guard: a switch is honoured only when `PAYCHAIN_TEST_FAULTS=enable` is set as well **and** the
//! binary was built with debug assertions (the dev profile the tests run). In any other case a
//! node that sees a switch refuses to start with a one-line reason, so a stray variable can neither
//! turn a production validator faulty nor be silently ignored.

use std::fmt;

/// Name of the variable that must be `enable` for any switch to apply.
pub const ENABLE_VAR: &str = "PAYCHAIN_TEST_FAULTS";
/// Byzantine behaviour switch.
pub const BYZANTINE_VAR: &str = "PAYCHAIN_TEST_BYZANTINE";
/// Failing storage commit switch.
pub const FAIL_COMMIT_VAR: &str = "PAYCHAIN_TEST_FAIL_COMMIT_AT";
/// Clock skew switch.
pub const CLOCK_OFFSET_VAR: &str = "PAYCHAIN_TEST_CLOCK_OFFSET_MS";

/// The faults this node injects (all off in production).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Propose invalid blocks.
    pub invalid_proposals: bool,
    /// Flood peers with garbage.
    pub garbage: bool,
    /// Propose blocks holding a transaction from a sender the chain does not know.
    pub unknown_sender: bool,
    /// A libp2p identity of its own (for a second node with the same validator key).
    pub own_peer_id: bool,
    /// Hold a proposal made with our key by another host until we proposed our own in its round.
    pub equivocate: bool,
    /// The enclave host forges role evidence.
    pub forge_roles: bool,
    /// Fail the storage commit of this height.
    pub fail_commit_at: Option<u64>,
    /// Milliseconds added to the node's clock (negative: behind).
    pub clock_offset_ms: i64,
}

impl Faults {
    /// Reads the switches from the environment.
    pub fn from_env() -> anyhow::Result<Faults> {
        Self::from_vars(|k| std::env::var(k).ok(), cfg!(debug_assertions))
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// Parses the switches; `get` reads a variable, `debug_build` says whether this binary may
    /// honour them at all.
    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
        debug_build: bool,
    ) -> Result<Faults, String> {
        let byzantine = get(BYZANTINE_VAR);
        let fail_commit = get(FAIL_COMMIT_VAR);
        let clock_offset = get(CLOCK_OFFSET_VAR);
        if byzantine.is_none() && fail_commit.is_none() && clock_offset.is_none() {
            return Ok(Faults::default());
        }
        let set: Vec<&str> = [
            byzantine.as_ref().map(|_| BYZANTINE_VAR),
            fail_commit.as_ref().map(|_| FAIL_COMMIT_VAR),
            clock_offset.as_ref().map(|_| CLOCK_OFFSET_VAR),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !debug_build {
            return Err(format!(
                "test-only fault switch {} is set, and this is a release build that never honours it; unset it",
                set.join(", ")
            ));
        }
        if get(ENABLE_VAR).as_deref() != Some("enable") {
            return Err(format!(
                "test-only fault switch {} is set without {ENABLE_VAR}=enable; unset it (it makes this node faulty on purpose)",
                set.join(", ")
            ));
        }
        let mut faults = Faults::default();
        if let Some(modes) = byzantine {
            for mode in modes.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                match mode {
                    "invalid-proposal" => faults.invalid_proposals = true,
                    "garbage" => faults.garbage = true,
                    "unknown-sender" => faults.unknown_sender = true,
                    "own-peer-id" => faults.own_peer_id = true,
                    "equivocate" => faults.equivocate = true,
                    "forge-role" => faults.forge_roles = true,
                    other => {
                        return Err(format!(
                            "{BYZANTINE_VAR}: unknown mode {other:?} (invalid-proposal, unknown-sender, garbage, own-peer-id, equivocate, forge-role)"
                        ))
                    }
                }
            }
        }
        if let Some(h) = fail_commit {
            let h: u64 = h
                .trim()
                .parse()
                .map_err(|_| format!("{FAIL_COMMIT_VAR}: {h:?} is not a height"))?;
            faults.fail_commit_at = Some(h);
        }
        if let Some(ms) = clock_offset {
            faults.clock_offset_ms = ms.trim().parse().map_err(|_| {
                format!("{CLOCK_OFFSET_VAR}: {ms:?} is not a number of milliseconds")
            })?;
        }
        Ok(faults)
    }

    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid_proposals={} unknown_sender={} garbage={} own_peer_id={} equivocate={} forge_roles={} fail_commit_at={:?} clock_offset_ms={}",
            self.invalid_proposals,
            self.unknown_sender,
            self.garbage,
            self.own_peer_id,
            self.equivocate,
            self.forge_roles,
            self.fail_commit_at,
            self.clock_offset_ms
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn off_unless_set() {
        assert_eq!(
            Faults::from_vars(vars(&[]), true).unwrap(),
            Faults::default()
        );
        assert!(!Faults::from_vars(vars(&[(ENABLE_VAR, "enable")]), true)
            .unwrap()
            .any());
    }

    #[test]
    fn refused_without_the_enable_flag_or_in_release_builds() {
        let err = Faults::from_vars(vars(&[(BYZANTINE_VAR, "garbage")]), true).unwrap_err();
        assert!(err.contains(ENABLE_VAR), "{err}");
        let err = Faults::from_vars(vars(&[(ENABLE_VAR, "yes"), (FAIL_COMMIT_VAR, "3")]), true)
            .unwrap_err();
        assert!(err.contains(FAIL_COMMIT_VAR), "{err}");
        let err = Faults::from_vars(
            vars(&[(ENABLE_VAR, "enable"), (BYZANTINE_VAR, "garbage")]),
            false,
        )
        .unwrap_err();
        assert!(err.contains("release build"), "{err}");
    }

    #[test]
    fn parses_modes_and_height() {
        let f = Faults::from_vars(
            vars(&[
                (ENABLE_VAR, "enable"),
                (BYZANTINE_VAR, "invalid-proposal, garbage"),
                (FAIL_COMMIT_VAR, "12"),
            ]),
            true,
        )
        .unwrap();
        assert!(f.invalid_proposals && f.garbage && !f.own_peer_id);
        let twin = Faults::from_vars(
            vars(&[(ENABLE_VAR, "enable"), (BYZANTINE_VAR, "own-peer-id")]),
            true,
        )
        .unwrap();
        assert!(twin.own_peer_id && !twin.equivocate && twin.any());
        let double = Faults::from_vars(
            vars(&[
                (ENABLE_VAR, "enable"),
                (BYZANTINE_VAR, "own-peer-id,equivocate"),
            ]),
            true,
        )
        .unwrap();
        assert!(double.own_peer_id && double.equivocate);
        assert_eq!(f.fail_commit_at, Some(12));
        assert!(Faults::from_vars(
            vars(&[(ENABLE_VAR, "enable"), (BYZANTINE_VAR, "evil")]),
            true
        )
        .is_err());
        assert!(Faults::from_vars(
            vars(&[(ENABLE_VAR, "enable"), (FAIL_COMMIT_VAR, "x")]),
            true
        )
        .is_err());
    }
}
