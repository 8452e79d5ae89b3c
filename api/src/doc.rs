//! The reference of the interface: one [`Area`] per trait file, rendered to `docs/rpc.md` by
//! [`render`]. The node checks that the methods listed here are exactly the methods its merged
//! module serves, and the api crate's test that `docs/rpc.md` is [`render`]'s output, so a method
//! cannot be added, renamed or dropped without the reference changing.

use std::fmt::Write as _;

use crate::ErrorCode;

/// The areas, in the order of the reference.
pub const AREAS: &[Area] = &[
    crate::chain::AREA,
    crate::enclave::AREA,
    crate::wallet::AREA,
    crate::collection::AREA,
    crate::store::AREA,
    crate::guardian::AREA,
    crate::ca::AREA,
    crate::reads::AREA,
];

/// Where `docs/rpc.md` lives, relative to the workspace root.
pub const PATH: &str = "docs/rpc.md";

/// How to regenerate `docs/rpc.md`.
pub const REGENERATE: &str = "UPDATE_RPC_DOC=1 cargo test -p paychain-api --test rpc_doc";

/// One area of the interface (one trait file of this crate).
#[derive(Debug, Clone, Copy)]
pub struct Area {
    /// Heading.
    pub name: &'static str,
    /// The traits that declare its methods.
    pub traits: &'static str,
    /// One paragraph.
    pub summary: &'static str,
    /// Its methods and subscriptions.
    pub methods: &'static [MethodDoc],
}

/// One method (or subscription).
#[derive(Debug, Clone, Copy)]
pub struct MethodDoc {
    /// The full method name (`paychain_...`).
    pub name: &'static str,
    /// Positional params, in order.
    pub params: &'static [ParamDoc],
    /// The JSON result.
    pub result: &'static str,
    /// Error codes it answers.
    pub errors: &'static [ErrorCode],
    /// What it does.
    pub summary: &'static str,
    /// For a subscription: its notification and unsubscribe method.
    pub subscription: Option<SubscriptionDoc>,
}

/// One positional parameter.
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    /// Its name, as error messages say it (`invalid <name>: ...`).
    pub name: &'static str,
    /// Its JSON type.
    pub ty: &'static str,
    /// May be left out (or `null`).
    pub optional: bool,
}

impl ParamDoc {
    /// A required parameter.
    pub const fn required(name: &'static str, ty: &'static str) -> Self {
        ParamDoc {
            name,
            ty,
            optional: false,
        }
    }

    /// An optional parameter.
    pub const fn optional(name: &'static str, ty: &'static str) -> Self {
        ParamDoc {
            name,
            ty,
            optional: true,
        }
    }
}

/// The notification and unsubscribe method of a subscription.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionDoc {
    /// Method name of its notifications.
    pub notification: &'static str,
    /// Method that ends it.
    pub unsubscribe: &'static str,
}

/// Every method documented.
pub fn methods() -> impl Iterator<Item = &'static MethodDoc> {
    AREAS.iter().flat_map(|a| a.methods.iter())
}

/// The documentation of `name`, if it is one of our methods (subscriptions by their subscribe name).
pub fn method(name: &str) -> Option<&'static MethodDoc> {
    methods().find(|m| m.name == name)
}

/// Every name a server registers as a method: the methods, the subscribe and the unsubscribe
/// methods (notifications are not methods), sorted.
pub fn registered_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = methods()
        .flat_map(|m| std::iter::once(m.name).chain(m.subscription.map(|s| s.unsubscribe)))
        .collect();
    names.sort_unstable();
    names
}

/// `docs/rpc.md`.
pub fn render() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# paychain JSON-RPC reference");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Generated from the `paychain-api` crate (`api/src/`); do not edit. Regenerate with \
         `{REGENERATE}`."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "JSON-RPC 2.0 over HTTP and WebSocket on the node's RPC port (`GET /health` and `GET /metrics` \
         on the same port). Params are positional (a JSON array); an optional param may be left out \
         or `null`. Errors are `{{code, message}}` with a one-line message (at most 512 bytes, quoting \
         at most 64 characters of what was sent; an internal fault says only `internal error (logged \
         as #N)`); the codes are listed at the end. Every bound is in `[rpc]` in the node's config: \
         request and response size (jsonrpsee's -32007 and -32008), connections in total and per IP \
         (5003, as an HTTP 429 answer with `Retry-After`), calls per second per IP (5001, over HTTP \
         also status 429 with `Retry-After`; a batch of n calls counts n), calls per batch (5002), \
         subscriptions per WebSocket (jsonrpsee's -32006). A connection that makes no call and holds \
         no subscription for `idle_timeout_ms` is closed; WebSockets are pinged. Permissions are the \
         contracts' business: the RPC layer checks only the shape of requests."
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Rust callers use the generated clients (`ChainApiClient`, `SubscriptionApiClient`, \
         `EnclaveApiClient`, `WalletApiClient`, `CollectionApiClient`, `StoreApiClient`, \
         `GuardianApiClient`) or the SDK (`paychain_client::rpc::Client`)."
    );
    for area in AREAS {
        let _ = writeln!(out);
        let _ = writeln!(out, "## {} (`{}`)", area.name, area.traits);
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", area.summary);
        let _ = writeln!(out);
        let _ = writeln!(out, "| method | params | result | errors |");
        let _ = writeln!(out, "|---|---|---|---|");
        for m in area.methods {
            let params = if m.params.is_empty() {
                "`[]`".to_owned()
            } else {
                let names: Vec<String> = m
                    .params
                    .iter()
                    .map(|p| {
                        let q = if p.optional { "?" } else { "" };
                        format!("{}{q}", p.name.replace(' ', "_"))
                    })
                    .collect();
                let types: Vec<String> = m
                    .params
                    .iter()
                    .map(|p| format!("`{}`: {}", p.name.replace(' ', "_"), p.ty))
                    .collect();
                format!("`[{}]`<br>{}", names.join(", "), types.join("<br>"))
            };
            let errors = if m.errors.is_empty() {
                "none".to_owned()
            } else {
                m.errors
                    .iter()
                    .map(|e| e.code().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut result = m.result.to_owned();
            if let Some(s) = m.subscription {
                result.push_str(&format!(
                    "<br>notifications: `{}`; unsubscribe: `{} [id]`",
                    s.notification, s.unsubscribe
                ));
            }
            let _ = writeln!(
                out,
                "| `{}`<br>{} | {} | {} | {} |",
                m.name,
                escape(m.summary),
                escape(&params),
                escape(&result),
                errors
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "## Error codes (`ErrorCode`)");
    let _ = writeln!(out);
    let _ = writeln!(out, "| code | name | meaning |");
    let _ = writeln!(out, "|---|---|---|");
    for e in ErrorCode::ALL {
        let _ = writeln!(
            out,
            "| {} | `{:?}` | {} |",
            e.code(),
            e,
            escape(e.describe())
        );
    }
    out
}

/// Table cells: no raw `|`.
fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_namespaced() {
        let names = registered_names();
        let mut dedup = names.clone();
        dedup.dedup();
        assert_eq!(names, dedup, "a method is listed twice");
        assert!(names.iter().all(|n| n.starts_with("paychain_")));
        for m in methods() {
            let mut optional = false;
            for p in m.params {
                assert!(
                    !optional || p.optional,
                    "{}: required after optional",
                    m.name
                );
                optional |= p.optional;
            }
        }
    }
}
