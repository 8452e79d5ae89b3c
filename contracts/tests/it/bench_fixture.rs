//! The baseline benchmark's payments fixture (`benches/common/payments.rs`) stays valid: its setup
//! passes (every setup transaction succeeds, or the fixture panics) and its block of payments
//! executes with every payment accepted, in the clear and with private state. Without this, a rule
//! that the fixture does not follow (certificates, say) breaks `scripts/bench.sh` and no test
//! notices.

#[path = "../../benches/common/payments.rs"]
#[allow(dead_code)]
mod payments;

#[test]
fn the_benchmarks_payments_all_go_through_in_the_clear_and_private() {
    for private in [false, true] {
        // The benchmark's setup with fewer payers (the same code; 200 take long at opt-level 0).
        let (chain, block) = payments::setup_n(private, 8);
        assert_eq!(block.txs.len(), 8);
        let out = paychain_contracts::executor::execute_block_with(
            &chain.store,
            &block,
            chain.vault.as_ref(),
        )
        .unwrap();
        let refused: Vec<_> = out.receipts.iter().filter(|r| r.code != 0).collect();
        assert!(
            refused.is_empty(),
            "private={private}: {} of {} payments refused, the first: {:?}",
            refused.len(),
            out.receipts.len(),
            refused.first()
        );
    }
}
