//! `docs/rpc.md` is what `paychain_api::doc::render` makes of the api crate. When it is not, the
//! test fails and says how to regenerate it (`UPDATE_RPC_DOC=1` writes the file instead).

use std::path::PathBuf;

use paychain_api::doc;

#[test]
fn rpc_reference_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(doc::PATH);
    let fresh = doc::render();
    if std::env::var_os("UPDATE_RPC_DOC").is_some() {
        std::fs::create_dir_all(path.parent().expect("docs/ has a parent")).expect("mkdir docs");
        std::fs::write(&path, &fresh).expect("write docs/rpc.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is stale (the api crate changed): regenerate it with `{}` and commit it",
        doc::PATH,
        doc::REGENERATE
    );
}
