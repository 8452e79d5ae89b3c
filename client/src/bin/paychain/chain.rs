//! `paychain status`, `paychain tx show | submit-raw`, `paychain block`, `paychain account`: the
//! chain as the node sees it.

use std::fmt::Write as _;

use clap::Subcommand;
use paychain_client::contracts::api::{AccountView, BlockView, StatusView, TxView};
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::executor::Receipt;
use paychain_client::tx;

use crate::args::{parse_hex, Bytes, WaitArgs};
use crate::output::{self, format_time_ms, Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum TxCmd {
    /// Show a transaction's status and receipt.
    Show {
        /// Transaction hash (64 hex characters).
        hash: Hash,
    },
    /// Submit already encoded transaction bytes as they are.
    SubmitRaw {
        /// Hex of the encoded signed transaction.
        #[arg(value_parser = parse_hex)]
        hex: Bytes,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

pub(crate) async fn status(url: &str) -> Result<Output, Failure> {
    let status = crate::args::rpc_client(url)?.status().await?;
    Ok(Output::new(human_status(&status), &status))
}

pub(crate) async fn tx(url: &str, cmd: TxCmd) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    match cmd {
        TxCmd::Show { hash } => {
            let view = client.tx(&hash).await?;
            Ok(Output::new(human_tx(&view), &view))
        }
        TxCmd::SubmitRaw { hex, wait } => {
            let answer = client.submit_raw(&hex.0).await?;
            output::sent(tx::follow(&client, answer.tx_hash, wait.wait()).await, None)
        }
    }
}

pub(crate) async fn block(url: &str, height: u64) -> Result<Output, Failure> {
    let view = crate::args::rpc_client(url)?
        .block(height)
        .await?
        .ok_or_else(|| Failure::chain(format!("no block at height {height}")))?;
    Ok(Output::new(human_block(&view), &view))
}

pub(crate) async fn account(url: &str, public_key: PublicKey) -> Result<Output, Failure> {
    let view = crate::args::rpc_client(url)?.account(&public_key).await?;
    Ok(Output::new(human_account(&view), &view))
}

fn human_status(s: &StatusView) -> String {
    let mut out = String::new();
    let total: u64 = s.validators.iter().map(|v| v.power).sum();
    let _ = writeln!(out, "chain id     {}", s.chain_id);
    let _ = writeln!(out, "node         {}", s.moniker);
    let _ = writeln!(out, "height       {}", s.height);
    let _ = writeln!(out, "app hash     {}", s.app_hash);
    let _ = writeln!(
        out,
        "latest block {} at {}",
        s.latest_block_hash,
        format_time_ms(s.latest_block_time_ms)
    );
    let _ = writeln!(
        out,
        "validators   {} (total power {total})",
        s.validators.len()
    );
    for v in &s.validators {
        let _ = writeln!(out, "  {}  {}  power {}", v.name, v.public_key, v.power);
    }
    let _ = writeln!(out, "peers        {}", s.peers);
    let _ = writeln!(out, "syncing      {}", if s.syncing { "yes" } else { "no" });
    let _ = writeln!(out, "mempool      {} txs", s.mempool_size);
    out
}

fn human_receipt(out: &mut String, r: &Receipt) {
    if r.is_ok() {
        let _ = writeln!(out, "result       ok");
    } else {
        let _ = writeln!(
            out,
            "result       failed (code {}): {}",
            r.code,
            r.error.as_deref().unwrap_or("no reason given")
        );
    }
    for e in &r.events {
        let attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "event        {} {}", e.kind, attrs.join(" "));
    }
}

fn human_tx(v: &TxView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tx           {}", v.tx_hash);
    match (v.height, v.index) {
        (Some(h), Some(i)) => {
            let _ = writeln!(
                out,
                "status       {} at height {h} (index {i})",
                tx::status_name(v.status)
            );
        }
        _ => {
            let _ = writeln!(out, "status       {}", tx::status_name(v.status));
        }
    }
    if let Some(r) = &v.receipt {
        human_receipt(&mut out, r);
    }
    out
}

fn human_block(b: &BlockView) -> String {
    let h = &b.header;
    let mut out = String::new();
    let _ = writeln!(out, "block        {}", b.height);
    let _ = writeln!(out, "hash         {}", b.hash);
    let _ = writeln!(out, "chain id     {}", h.chain_id);
    let _ = writeln!(out, "time         {}", format_time_ms(h.time_ms));
    let _ = writeln!(out, "proposer     {}", h.proposer);
    let _ = writeln!(out, "parent       {}", h.prev_block_hash);
    let _ = writeln!(out, "prev app     {}", h.prev_app_hash);
    let _ = writeln!(out, "tx root      {}", h.tx_root);
    let _ = writeln!(out, "txs          {}", b.tx_hashes.len());
    for (i, hash) in b.tx_hashes.iter().enumerate() {
        let result = match b.receipts.get(i) {
            Some(r) if r.is_ok() => "ok".to_owned(),
            Some(r) => format!(
                "failed (code {}): {}",
                r.code,
                r.error.as_deref().unwrap_or("no reason given")
            ),
            None => "no receipt".to_owned(),
        };
        let _ = writeln!(out, "  {i:>4}  {hash}  {result}");
    }
    out
}

fn human_account(a: &AccountView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "account      {}", a.public_key);
    let _ = writeln!(out, "nonce        {}", a.nonce);
    match &a.member {
        Some(m) => {
            let roles: Vec<String> = m
                .roles
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            let _ = writeln!(
                out,
                "member       {} ({}), roles: {}",
                m.id,
                m.name,
                roles.join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "member       none");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_human_and_json() {
        let s = StatusView {
            chain_id: "paychain-dev".into(),
            moniker: "node0".into(),
            height: 42,
            app_hash: Hash::digest(b"a"),
            latest_block_hash: Hash::digest(b"b"),
            latest_block_time_ms: 0,
            validators: vec![],
            peers: 0,
            syncing: false,
            mempool_size: 3,
        };
        let out = Output::new(human_status(&s), &s);
        assert!(out.human.contains("height       42\n"));
        assert!(out
            .human
            .contains(&format!("app hash     {}\n", Hash::digest(b"a"))));
        assert_eq!(out.json["height"], 42);
        assert_eq!(out.json["app_hash"], Hash::digest(b"a").to_hex());
    }
}
