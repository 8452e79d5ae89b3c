//! The EMVCo merchant-code decoder on arbitrary input: it must never panic, and whatever it
//! accepts must be a code whose CRC and structure it can state again: its tags rebuild the code
//! exactly, and what a payer would pay for it is base + fee + tip (or a clear refusal).
//!
//! Run with `cargo +nightly fuzz run emvco_decode` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use paychain_contracts::money::{Amount, Currency};
use rust_decimal::Decimal;

/// The client's decoder itself (client/src/emvco.rs), compiled in without the rest of the client.
#[path = "../../client/src/emvco.rs"]
#[allow(dead_code)]
mod emvco;

fn rebuild(tags: &[emvco::Tag]) -> String {
    tags.iter()
        .map(|t| format!("{}{:02}{}", t.id, t.value.chars().count(), t.value))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(code) = emvco::decode(&text) {
        // Accepted codes are bounded and carry a verified 4-digit CRC.
        assert!(text.trim().chars().count() <= emvco::MAX_PAYLOAD_CHARS);
        assert_eq!(code.crc.len(), 4);
        // Every field is kept as read: the tags are the code, each template's sub-tags its value.
        assert_eq!(rebuild(&code.tags), text.trim());
        for tag in code.tags.iter().filter(|t| !t.tags.is_empty()) {
            assert_eq!(rebuild(&tag.tags), tag.value);
        }
        let _ = code.paychain_merchant();
        let _ = code.scheme();
        let _ = serde_json::to_string(&code);
        // Fields 55-57: what a payer pays, for the code's amount (or one unit) in a few
        // currencies, without and with a tip.
        let value = code.amount.unwrap_or(Decimal::ONE);
        for currency in [Currency::CNY, Currency::JPY, Currency::BHD] {
            let Ok(base) = Amount::new(value, currency) else {
                continue;
            };
            for tip in [None, Some(Decimal::ZERO), Some(Decimal::new(15, 1))] {
                if let Ok(due) = code.amount_due(base, tip) {
                    assert_eq!(
                        due.total.value,
                        due.base.value + due.fee.value + due.tip.value
                    );
                    assert!(due.fee.value >= Decimal::ZERO && due.tip.value >= Decimal::ZERO);
                    assert!(due.total.validate().is_ok());
                    let _ = due.to_string();
                }
            }
        }
    }
});
